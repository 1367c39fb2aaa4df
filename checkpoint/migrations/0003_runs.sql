-- One row per run of a command that sends S3 requests: what the request
-- traffic was, for status (updated every few seconds while it runs).
CREATE TABLE runs (
    run_no      INTEGER PRIMARY KEY,
    command     TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL DEFAULT '',
    requests    INTEGER NOT NULL DEFAULT 0,
    throttled   INTEGER NOT NULL DEFAULT 0,  -- attempts answered 503 SlowDown / 429
    rate        REAL    NOT NULL DEFAULT 0   -- requests per second, over the last interval
);
