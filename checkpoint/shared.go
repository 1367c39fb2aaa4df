package checkpoint

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// On PostgreSQL any number of processes ("workers", on one machine or
// many) run one job together. Each registers in the workers table and a
// heartbeat renews its row and all it holds every lease/3; a worker that
// stops (or is killed, or loses the database) for longer than the lease is
// gone, and what it held is free for the others.
//
// What the workers alive together do is a pass: one listing of the source,
// split into shards that the workers list side by side (see shards.go), each row to plan handed
// to one worker (ClaimPlan), each key with copies to make leased to one
// worker with all its versions (ClaimKeys), oldest first as always. A
// worker finished with its share waits until the pass is done, so that
// the keys of a worker that died are taken over when its lease runs out;
// the in-doubt reconciliation then decides whether its last copies landed.

// DefaultLease is how long a worker's claims outlive its last heartbeat.
const DefaultLease = 30 * time.Second

// worker is this process as one of a PostgreSQL job's workers.
type worker struct {
	id    string
	host  string
	pass  int64
	lease time.Duration
	// poll is how long a worker waits before asking again for work
	// others hold.
	poll time.Duration

	stop, done chan struct{}

	mu      sync.Mutex
	renewed time.Time // when the server last took a heartbeat (local clock)
	lost    error     // set once the leases may have run out: the run must stop
	scanned bool      // RecordScan was called: a second one lists again
	// The keys this worker holds, by task: a key's lease is done once
	// every task handed out with it has an outcome.
	taskKey  map[int64]keyRef
	open     map[keyRef]int
	released map[keyRef]bool // a task came back unstarted: free the key instead
}

type keyRef struct{ dest, key string }

// seconds is d for make_interval.
func seconds(d time.Duration) float64 { return d.Seconds() }

// register joins the job as a worker: into the pass of the workers alive,
// or alone into a new pass; then starts the heartbeat.
func (db *DB) register(ctx context.Context, lease time.Duration) error {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	rand.Read(b)
	w := &worker{id: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b)), host: host, lease: lease,
		poll: min(time.Second, lease/4), stop: make(chan struct{}), done: make(chan struct{}),
		taskKey: map[int64]keyRef{}, open: map[keyRef]int{}, released: map[keyRef]bool{}}
	err := db.inMigration(ctx, func(tx *txn) error {
		var live sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(pass) FROM workers WHERE expires_at > now() AND stopped_at IS NULL`).Scan(&live); err != nil {
			return err
		}
		if live.Valid {
			w.pass = live.Int64
		} else if err := tx.QueryRowContext(ctx, `INSERT INTO passes (pass) SELECT COALESCE(MAX(pass), 0) + 1 FROM passes RETURNING pass`).Scan(&w.pass); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO workers (id, host, pid, pass, expires_at) VALUES (?, ?, ?, ?, now() + make_interval(secs => ?))`,
			w.id, host, os.Getpid(), w.pass, seconds(lease))
		return err
	})
	if err != nil {
		return db.pgErr("register as a worker", err)
	}
	w.renewed = time.Now()
	db.wk = w
	go db.heartbeat()
	return nil
}

// heartbeat renews the worker's row and leases until it stops.
func (db *DB) heartbeat() {
	w := db.wk
	defer close(w.done)
	tick := time.NewTicker(w.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.lease/3)
		err := db.renew(ctx)
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.renewed = time.Now()
		case errors.Is(err, errGone):
			w.lost = err
		case time.Since(w.renewed) > w.lease*2/3:
			// Others may take over soon: stop before they do.
			w.lost = fmt.Errorf("no heartbeat reached PostgreSQL for %s (lease %s); stopping before another worker takes over this one's keys: %w",
				time.Since(w.renewed).Round(time.Second), w.lease, err)
		}
		w.mu.Unlock()
	}
}

var errGone = errors.New("this worker's lease ran out and another worker may hold its keys; stopping")

// renew extends the worker's row and everything it holds by one lease.
func (db *DB) renew(ctx context.Context) error {
	w := db.wk
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE workers SET heartbeat_at = now(), expires_at = now() + make_interval(secs => ?)
		WHERE id = ? AND expires_at > now() AND stopped_at IS NULL`, seconds(w.lease), w.id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errGone
	}
	if err := db.setLeases(ctx, tx, `now() + make_interval(secs => ?)`, seconds(w.lease)); err != nil {
		return err
	}
	return tx.Commit()
}

// held is everything a worker holds under its lease: the table, the column
// holding when the lease runs out, and which rows are the worker's (its id
// the one parameter).
var held = []struct{ table, expires, mine string }{
	{"key_leases", "expires_at", "worker = ? AND NOT done"},
	{"versions", "plan_expires", "plan_worker = ? AND plan_expires IS NOT NULL"},
	{"passes", "scan_expires", "scanner = ? AND scan_state = 'scanning'"},
	{"scan_shards", "expires_at", "worker = ? AND state = 'listing'"},
}

// setLeases sets when everything the worker holds runs out to the SQL
// expression to, whose parameters are args.
func (db *DB) setLeases(ctx context.Context, tx *txn, to string, args ...any) error {
	for _, h := range held {
		if _, err := tx.ExecContext(ctx, `UPDATE `+h.table+` SET `+h.expires+` = `+to+` WHERE `+h.mine,
			append(slices.Clone(args), db.wk.id)...); err != nil {
			return err
		}
	}
	return nil
}

// leaseErr is why the worker must stop, if it must.
func (db *DB) leaseErr() error {
	if db.wk == nil {
		return nil
	}
	db.wk.mu.Lock()
	defer db.wk.mu.Unlock()
	return db.wk.lost
}

// deregister ends the heartbeat and gives back what the worker holds and
// has not finished, for the workers still running.
func (db *DB) deregister(ctx context.Context) error {
	w := db.wk
	if w == nil {
		return nil
	}
	close(w.stop)
	<-w.done
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`UPDATE workers SET stopped_at = now(), expires_at = now() WHERE id = ?`,
		`DELETE FROM key_leases WHERE worker = ? AND NOT done`,
		`UPDATE versions SET plan_expires = '-infinity' WHERE plan_worker = ? AND plan_expires IS NOT NULL`,
		`UPDATE passes SET scan_state = '', scanner = '' WHERE scanner = ? AND scan_state = 'scanning'`,
		`UPDATE scan_shards SET state = '', worker = '' WHERE worker = ? AND state = 'listing'`,
	} {
		if _, err := tx.ExecContext(ctx, q, w.id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// waitPoll sleeps before asking again for work others hold.
func (db *DB) waitPoll(ctx context.Context) error {
	if err := db.leaseErr(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(db.wk.poll):
		return nil
	}
}

// ClaimPlan returns the next rows to plan, up to limit. A store one
// process holds returns PlanPage(afterID, limit). A shared store hands
// each row to one worker per pass, whatever afterID, and when the rows
// left are all being planned by others it waits until they are planned,
// or their worker's lease runs out and they are handed out again; it
// returns none only when every row of the pass is planned.
func (db *DB) ClaimPlan(ctx context.Context, afterID int64, limit int) ([]planner.Row, error) {
	if db.wk == nil {
		return db.PlanPage(ctx, afterID, limit)
	}
	w := db.wk
	others := `SELECT EXISTS (SELECT 1 FROM versions
		WHERE plan_expires IS NOT NULL AND plan_pass = ? AND plan_worker <> ? AND status IN ('pending', 'failed', 'skipped'))`
	return claimOrWait(ctx, db, "claim rows to plan", others, func() ([]planner.Row, error) {
		rows, err := collectPlan(db.w.QueryContext(ctx, `WITH c AS (
				SELECT id AS cid FROM versions
				WHERE status IN ('pending', 'failed', 'skipped')
				  AND (plan_pass < ? OR (plan_expires IS NOT NULL AND plan_expires <= now()))
				ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE versions v SET plan_pass = ?, plan_worker = ?, plan_expires = now() + make_interval(secs => ?)
			FROM c WHERE v.id = c.cid
			RETURNING `+qualified("v", db.rowColumns)+`, `+newerReplicated,
			w.pass, limit, w.pass, w.id, seconds(w.lease)))
		if err != nil {
			return nil, err
		}
		// RETURNING keeps no order: the rows of a version are planned
		// together, next to each other by id.
		slices.SortFunc(rows, func(a, b planner.Row) int { return cmp.Compare(a.ID, b.ID) })
		return rows, nil
	})
}

// ClaimKeys returns the next keys to copy, up to limit, each with all its
// rows (as NextWork). A store one process holds returns NextWork(after,
// limit). A shared store leases each key to one worker per pass, whatever
// after, skipping the keys other workers hold or lock at that moment;
// when the keys left are all held by others it waits until they are done
// or their worker's lease runs out and they are handed out again; it
// returns none only when every key of the pass is done.
func (db *DB) ClaimKeys(ctx context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error) {
	if db.wk == nil {
		return db.NextWork(ctx, after, limit)
	}
	others := `SELECT EXISTS (SELECT 1 FROM key_leases WHERE pass = ? AND NOT done AND worker <> ?)`
	return claimOrWait(ctx, db, "lease keys", others, func() ([]planner.KeyWork, error) {
		for {
			// Keys with tasks not claimed yet first, after this worker's
			// last (the index's entries behind it are mostly of keys done:
			// walking them again and again would make every claim slower
			// than the last), then from the first key; keys whose every task
			// is in doubt (claimed by a worker since gone) only when none
			// is left.
			todo := `v.status IN ('pending', 'failed') AND v.action IN ` + copyActions
			pairs, err := db.leaseKeys(ctx, todo, after, limit)
			if err == nil && len(pairs) == 0 && after != (planner.KeyCursor{}) {
				pairs, err = db.leaseKeys(ctx, todo, planner.KeyCursor{}, limit)
			}
			if err == nil && len(pairs) == 0 {
				pairs, err = db.leaseKeys(ctx, `v.status = 'copying' AND v.action IN `+copyActions, planner.KeyCursor{}, limit)
			}
			if err != nil || len(pairs) == 0 {
				return nil, err
			}
			work, err := db.keysWork(ctx, db.w, pairs)
			if err != nil {
				return nil, err
			}
			if err := db.holding(ctx, work, pairs); err != nil {
				return nil, err
			}
			work = slices.DeleteFunc(work, func(kw planner.KeyWork) bool { return len(kw.Tasks) == 0 })
			if len(work) > 0 {
				return work, nil
			}
			// Every key leased was finished by another worker meanwhile.
		}
	})
}

// claimOrWait calls claim until it hands something out, and returns that.
// When it hands out nothing while other workers hold some of the pass's
// work (the query others, on the pass and this worker's id, says so), it
// waits: they finish it, or their lease runs out and claim gets it. It
// returns none when nothing is left.
func claimOrWait[T any](ctx context.Context, db *DB, what, others string, claim func() ([]T, error)) ([]T, error) {
	for {
		if err := db.leaseErr(); err != nil {
			return nil, err
		}
		got, err := claim()
		if err != nil {
			return nil, db.pgErr(what, err)
		}
		if len(got) > 0 {
			return got, nil
		}
		var busy bool
		if err := db.w.QueryRowContext(ctx, others, db.wk.pass, db.wk.id).Scan(&busy); err != nil {
			return nil, db.pgErr(what, err)
		}
		if !busy {
			return nil, nil
		}
		if err := db.waitPoll(ctx); err != nil {
			return nil, err
		}
	}
}

// leaseKeys leases the keys of the first limit rows after the cursor of
// versions v matching where, that no worker holds and none finished this
// pass (as many keys, or fewer when a key has several such rows), and
// returns them as (dest, key) pairs. Rows, not keys, are locked (the rows of a key
// may be many): another claimer skips them, and one that reaches a key
// through rows not locked loses it at the lease's ON CONFLICT.
func (db *DB) leaseKeys(ctx context.Context, where string, after planner.KeyCursor, limit int) ([]any, error) {
	w := db.wk
	rows, err := db.w.QueryContext(ctx, `WITH r AS (
			SELECT v.dest, v.key FROM versions v
			WHERE `+where+` AND (v.dest, v.key) > (?, ?)
			  AND NOT EXISTS (SELECT 1 FROM key_leases l WHERE l.dest = v.dest AND l.key = v.key
			                  AND l.pass = ? AND (l.done OR l.expires_at > now()))
			ORDER BY v.dest, v.key LIMIT ? FOR UPDATE OF v SKIP LOCKED),
		c AS (SELECT DISTINCT dest, key FROM r)
		INSERT INTO key_leases (dest, key, pass, worker, expires_at)
		SELECT dest, key, CAST(? AS BIGINT), CAST(? AS TEXT), now() + make_interval(secs => ?) FROM c
		ON CONFLICT (dest, key) DO UPDATE SET pass = excluded.pass, worker = excluded.worker,
			expires_at = excluded.expires_at, done = FALSE
		WHERE key_leases.pass <> excluded.pass OR (NOT key_leases.done AND key_leases.expires_at <= now())
		RETURNING dest, key`, after.Dest, after.Key, w.pass, limit, w.pass, w.id, seconds(w.lease))
	if err != nil {
		return nil, err
	}
	return scanPairs(rows)
}

// holding notes the tasks of the keys just leased; a leased key with no
// task left is done at once.
func (db *DB) holding(ctx context.Context, work []planner.KeyWork, pairs []any) error {
	w := db.wk
	w.mu.Lock()
	with := map[keyRef]bool{}
	for _, kw := range work {
		if len(kw.Tasks) == 0 {
			continue
		}
		k := keyRef{kw.Dest, kw.Key}
		with[k] = true
		w.open[k] = len(kw.Tasks)
		for _, t := range kw.Tasks {
			w.taskKey[t.ID] = k
		}
	}
	w.mu.Unlock()
	var empty []keyRef
	for i := 0; i < len(pairs); i += 2 {
		if k := (keyRef{pairs[i].(string), pairs[i+1].(string)}); !with[k] {
			empty = append(empty, k)
		}
	}
	if len(empty) == 0 {
		return nil
	}
	return db.inTx(ctx, "lease keys", func(tx *txn) error { return db.finishKeys(ctx, tx, empty, nil) })
}

// settle is what a batch of outcomes finishes: the keys held whose every
// task then has an outcome, done for this pass, or free again when one of
// their tasks came back unstarted. It changes nothing itself: apply counts
// the batch against the keys held, once the batch is committed.
func (db *DB) settle(batch []planner.Outcome) (done, free []keyRef, apply func()) {
	w := db.wk
	if w == nil {
		return nil, nil, func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	left := map[keyRef]int{}
	released := map[keyRef]bool{}
	var ids []int64
	for _, o := range batch {
		k, ok := w.taskKey[o.TaskID]
		if !ok {
			continue
		}
		ids = append(ids, o.TaskID)
		if _, seen := left[k]; !seen {
			left[k], released[k] = w.open[k], w.released[k]
		}
		released[k] = released[k] || o.Status == planner.StatusPending
		if left[k]--; left[k] == 0 {
			if released[k] {
				free = append(free, k)
			} else {
				done = append(done, k)
			}
		}
	}
	return done, free, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, id := range ids {
			delete(w.taskKey, id)
		}
		for k, n := range left {
			if n > 0 {
				w.open[k], w.released[k] = n, released[k]
			} else {
				delete(w.open, k)
				delete(w.released, k)
			}
		}
	}
}

// finishKeys ends the leases of keys done (a key with nothing left to copy
// needs no lease: it is no candidate; one with a failed or in-doubt task
// keeps it, marked done, so that no worker takes it again this pass) and
// of keys freed.
func (db *DB) finishKeys(ctx context.Context, tx *txn, done, free []keyRef) error {
	for _, set := range []struct {
		keys []keyRef
		q    string
	}{
		{done, `DELETE FROM key_leases l WHERE worker = ? AND (dest, key) IN (VALUES %s)
			AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.dest = l.dest AND v.key = l.key AND ` + workWhere("v.") + `)`},
		{done, `UPDATE key_leases SET done = TRUE WHERE worker = ? AND (dest, key) IN (VALUES %s)`},
		{free, `DELETE FROM key_leases WHERE worker = ? AND (dest, key) IN (VALUES %s)`},
	} {
		if len(set.keys) == 0 {
			continue
		}
		args := []any{db.wk.id}
		for _, k := range set.keys {
			args = append(args, k.dest, k.key)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(set.keys)), ", ")
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(set.q, values), args...); err != nil {
			return err
		}
	}
	return nil
}

// Workers lists the job's workers, the live ones first, then those
// stopped or gone in the last hour. A store one process holds has none.
func (db *DB) Workers(ctx context.Context) ([]planner.Worker, error) {
	if db.pg == nil {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT w.id, w.host, w.pid, w.command, w.started_at, w.heartbeat_at,
			w.expires_at > now() AND w.stopped_at IS NULL,
			(SELECT COUNT(*) FROM key_leases l WHERE l.worker = w.id AND NOT l.done),
			COALESCE(r.requests, 0), COALESCE(r.rate, 0)
		FROM workers w LEFT JOIN runs r ON r.run_no = w.run_no
		WHERE w.expires_at > now() - interval '1 hour'
		ORDER BY 7 DESC, w.started_at, w.id`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	var out []planner.Worker
	for rows.Next() {
		var w planner.Worker
		if err := rows.Scan(&w.ID, &w.Host, &w.PID, &w.Command, &w.StartedAt, &w.Heartbeat, &w.Alive, &w.Keys, &w.Requests, &w.Rate); err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// newerReplicated is PlanPage's NewerReplicated column, for rows v.
const newerReplicated = `EXISTS (SELECT 1 FROM versions n WHERE n.dest = v.dest AND n.key = v.key AND n.status = 'succeeded'
	AND (n.scan_no > v.scan_no OR (n.scan_no = v.scan_no AND n.rank < v.rank)))`

// qualified prefixes each column of a list with alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// collectPlan reads rows with NewerReplicated.
func collectPlan(rows *sql.Rows, err error) ([]planner.Row, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []planner.Row
	for rows.Next() {
		var newer bool
		r, err := scanRow(rows, &newer)
		if err != nil {
			return nil, err
		}
		r.NewerReplicated = newer
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanPairs reads (dest, key) rows as NextWork's flat argument list.
func scanPairs(rows *sql.Rows) ([]any, error) {
	defer rows.Close()
	var pairs []any
	for rows.Next() {
		var d, k string
		if err := rows.Scan(&d, &k); err != nil {
			return nil, err
		}
		pairs = append(pairs, d, k)
	}
	return pairs, rows.Err()
}
