-- Whether the replica asks for an S3 Bucket Key, as the planner decided.
-- Rows planned before this column existed asked for one exactly when their
-- source had one and the replica is SSE-KMS.
ALTER TABLE versions ADD COLUMN replica_bucket_key INTEGER NOT NULL DEFAULT 0;
UPDATE versions SET replica_bucket_key = 1 WHERE bucket_key = 1 AND replica_encryption = 'SSE-KMS';
