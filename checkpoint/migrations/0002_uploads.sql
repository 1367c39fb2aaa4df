-- Multipart uploads in progress, so that a run after a crash continues
-- them instead of copying every part again. A row is removed when its
-- upload is completed or aborted.
CREATE TABLE uploads (
    row_id      INTEGER PRIMARY KEY REFERENCES versions (id),
    upload_id   TEXT NOT NULL UNIQUE,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,  -- the plan and part layout it was made for
    part_sizes  TEXT NOT NULL,  -- JSON array of the parts' sizes
    created_at  TEXT NOT NULL
);

CREATE TABLE upload_parts (
    upload_id   TEXT    NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    etag        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL DEFAULT '',  -- the part's CRC32, where the upload declared it
    PRIMARY KEY (upload_id, part_number)
);

-- How a multipart replica was laid out: the source's parts or --part-size.
ALTER TABLE versions ADD COLUMN part_layout TEXT NOT NULL DEFAULT '';
