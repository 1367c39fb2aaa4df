-- The job's settings as JSON (no key material: the key file is named by path).
CREATE TABLE job (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    settings   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE scans (
    scan_no     INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    seen        INTEGER NOT NULL DEFAULT 0,
    added       INTEGER NOT NULL DEFAULT 0
);

-- One row per source version (delete markers included) and destination
-- bucket: a job may replicate to several destinations, each with its own
-- plan and outcome.
-- Order within a key, oldest first: scan_no ASC, rank DESC (rank 0 is the
-- newest version a scan saw; versions found by a later scan are newer).
-- A scan commits all versions of one key together, so a key is never split
-- between an interrupted scan and the next one.
CREATE TABLE versions (
    id                 INTEGER PRIMARY KEY,
    dest               TEXT    NOT NULL,  -- destination bucket
    key                TEXT    NOT NULL,
    version_id         TEXT    NOT NULL,
    scan_no            INTEGER NOT NULL,
    rank               INTEGER NOT NULL,
    is_latest          INTEGER NOT NULL,
    delete_marker      INTEGER NOT NULL,
    size               INTEGER NOT NULL,
    etag               TEXT    NOT NULL DEFAULT '',
    last_modified      TEXT    NOT NULL DEFAULT '',
    storage_class      TEXT    NOT NULL DEFAULT '',

    -- What inspection (HEAD) found.
    inspected          INTEGER NOT NULL DEFAULT 0,
    source_encryption  TEXT    NOT NULL DEFAULT '',
    kms_key_id         TEXT    NOT NULL DEFAULT '',
    ssec_key_id        TEXT    NOT NULL DEFAULT '',
    bucket_key         INTEGER NOT NULL DEFAULT 0,  -- SSE-KMS with an S3 Bucket Key
    replication_status TEXT    NOT NULL DEFAULT '',  -- x-amz-replication-status
    checksum_algorithm TEXT    NOT NULL DEFAULT '',  -- CRC32, CRC32C, CRC64NVME, SHA1, SHA256
    checksum           TEXT    NOT NULL DEFAULT '',
    checksum_type      TEXT    NOT NULL DEFAULT '',  -- FULL_OBJECT or COMPOSITE
    archived           INTEGER NOT NULL DEFAULT 0,  -- in an archive tier and not restored

    -- The plan.
    action             TEXT    NOT NULL DEFAULT '',
    rule_id            TEXT    NOT NULL DEFAULT '',  -- the replication rule that applied
    dest_key           TEXT    NOT NULL DEFAULT '',
    replica_encryption TEXT    NOT NULL DEFAULT '',
    replica_kms_key_id TEXT    NOT NULL DEFAULT '',
    replica_ssec_key_id TEXT   NOT NULL DEFAULT '',
    replica_storage_class TEXT NOT NULL DEFAULT '',  -- '' = the source's

    -- The outcome.
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending','copying','succeeded','failed','skipped')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    dest_version_id    TEXT    NOT NULL DEFAULT '',
    replica_etag       TEXT    NOT NULL DEFAULT '',
    etag_status        TEXT    NOT NULL DEFAULT '',
    etag_reason        TEXT    NOT NULL DEFAULT '',
    checksum_status    TEXT    NOT NULL DEFAULT '',  -- match, mismatch or not-compared
    checksum_reason    TEXT    NOT NULL DEFAULT '',
    error_code         TEXT    NOT NULL DEFAULT '',
    http_status        INTEGER NOT NULL DEFAULT 0,
    message            TEXT    NOT NULL DEFAULT '',
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    claimed_at         TEXT    NOT NULL DEFAULT '',  -- last claim by a copy run
    finished_at        TEXT    NOT NULL DEFAULT '',  -- last outcome recorded

    -- The last `verify` of the replica.
    verify_status      TEXT    NOT NULL DEFAULT '',  -- ok or mismatch
    verify_message     TEXT    NOT NULL DEFAULT '',
    verified_at        TEXT    NOT NULL DEFAULT '',

    UNIQUE (dest, key, version_id)
);

CREATE INDEX versions_status ON versions (status, dest, key);
CREATE INDEX versions_order ON versions (dest, key, scan_no, rank);
-- The keys with work to do, in the order NextWork hands them out: its
-- WHERE must repeat this one word for word for SQLite to use the index.
CREATE INDEX versions_work ON versions (dest, key)
    WHERE status IN ('pending', 'copying', 'failed') AND action IN ('copy', 'multipart', 'delete-marker');
