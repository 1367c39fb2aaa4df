-- An upload row with no upload_id is the intent to start a multipart
-- upload, recorded before CreateMultipartUpload is sent: after a crash (or
-- a lost answer) the next run lists the key's uploads initiated since and
-- aborts them, so no upload is left that the checkpoint does not know.
CREATE TABLE uploads_new (
    row_id      INTEGER PRIMARY KEY REFERENCES versions (id),
    upload_id   TEXT UNIQUE,    -- NULL: an intent
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,  -- the plan and part layout it was made for
    part_sizes  TEXT NOT NULL,  -- JSON array of the parts' sizes
    created_at  TEXT NOT NULL
);
INSERT INTO uploads_new (row_id, upload_id, bucket, key, fingerprint, part_sizes, created_at)
    SELECT row_id, upload_id, bucket, key, fingerprint, part_sizes, created_at FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
