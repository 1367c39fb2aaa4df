-- Many processes (workers) may run one job together. Each registers in
-- workers and renews its row, and every lease it holds, by a heartbeat;
-- a worker whose expires_at has passed is gone, and what it held is free.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    pass         BIGINT  NOT NULL,
    command      TEXT    NOT NULL DEFAULT '',
    run_no       BIGINT,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    stopped_at   TIMESTAMPTZ
);

-- A pass is what the workers alive together do: one scan of the source,
-- each row planned once, each key copied once. A worker that starts while
-- others live joins their pass; one that starts alone begins the next.
CREATE TABLE passes (
    pass         BIGINT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    scan_state   TEXT NOT NULL DEFAULT '' CHECK (scan_state IN ('', 'scanning', 'done')),
    scanner      TEXT NOT NULL DEFAULT '',
    scan_expires TIMESTAMPTZ,
    scan_seen    BIGINT NOT NULL DEFAULT 0,
    scan_added   BIGINT NOT NULL DEFAULT 0
);

-- A key being copied, by one worker, with all its versions; done: its
-- worker recorded an outcome for each, and no one takes it again this pass.
CREATE TABLE key_leases (
    dest       TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    pass       BIGINT  NOT NULL,
    worker     TEXT    NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (dest, key)
);
CREATE INDEX key_leases_held ON key_leases (worker) WHERE NOT done;

-- A row being planned: plan_pass is the pass that took it; plan_expires is
-- NULL once its plan is saved.
ALTER TABLE versions ADD COLUMN plan_pass    BIGINT NOT NULL DEFAULT 0;
ALTER TABLE versions ADD COLUMN plan_worker  TEXT   NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN plan_expires TIMESTAMPTZ;
CREATE INDEX versions_planning ON versions (plan_worker) WHERE plan_expires IS NOT NULL;
CREATE INDEX versions_to_plan ON versions (id) WHERE status IN ('pending', 'failed', 'skipped');
