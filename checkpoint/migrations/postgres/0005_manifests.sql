-- Where a version's inspection came from: 'head' (a HEAD of the source),
-- 'manifest' (the S3 Inventory report the scan read), or '' (not known).
ALTER TABLE versions ADD COLUMN facts_from TEXT NOT NULL DEFAULT '';
UPDATE versions SET facts_from = 'head' WHERE inspected AND NOT delete_marker;

-- The manifests scans loaded whole: the same manifest is not read again.
CREATE TABLE manifests (
    location  TEXT    NOT NULL,
    etag      TEXT    NOT NULL,  -- of manifest.json or the CSV file
    versions  BIGINT  NOT NULL DEFAULT 0,
    loaded_at TEXT    NOT NULL,  -- when a scan finished loading it
    PRIMARY KEY (location, etag)
);

-- How many versions each run copied: status shows requests per copied version.
ALTER TABLE runs ADD COLUMN copied BIGINT NOT NULL DEFAULT 0;

-- Which SSE-C keys opened versions in which folders ('' is the whole
-- source): the order keys are tried in learns from it. Key ids only,
-- never key material.
CREATE TABLE ssec_learning (
    folder   TEXT   COLLATE "C" NOT NULL,
    key_id   TEXT   NOT NULL,
    versions BIGINT NOT NULL,
    PRIMARY KEY (folder, key_id)
);

-- How many requests each run spent on SSE-C keys that did not open the
-- version tried.
ALTER TABLE runs ADD COLUMN key_trials BIGINT NOT NULL DEFAULT 0;

-- Each run's requests by S3 operation (JSON: {"CopyObject": 12, …}), for the
-- tally of requests and their cost.
ALTER TABLE runs ADD COLUMN requests_by_op TEXT NOT NULL DEFAULT '{}';

-- A version's Object Lock (from its HEAD or its manifest), carried to its
-- replica where the destination bucket has Object Lock.
ALTER TABLE versions ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';   -- GOVERNANCE, COMPLIANCE or ''
ALTER TABLE versions ADD COLUMN lock_until TEXT NOT NULL DEFAULT '';  -- retain-until, RFC 3339
ALTER TABLE versions ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
