-- A pass's listing split into shards that workers list side by side. A
-- shard's cursor (after) is the last key whose versions are all recorded:
-- a shard whose worker is gone is listed again from there.
ALTER TABLE passes DROP CONSTRAINT passes_scan_state_check;
ALTER TABLE passes ADD CONSTRAINT passes_scan_state_check CHECK (scan_state IN ('', 'scanning', 'listing', 'done'));
ALTER TABLE passes ADD COLUMN scan_no BIGINT;  -- the scans row of the pass's sharded listing

CREATE TABLE scan_shards (
    pass       BIGINT  NOT NULL,
    no         INTEGER NOT NULL,
    prefix     TEXT    COLLATE "C" NOT NULL,
    direct     BOOLEAN NOT NULL,  -- only the keys directly under prefix
    all_keys   BOOLEAN NOT NULL,  -- the whole source
    after      TEXT    COLLATE "C" NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT '' CHECK (state IN ('', 'listing', 'done')),
    worker     TEXT    NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ,
    seen       BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (pass, no)
);
