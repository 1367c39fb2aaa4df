package checkpoint

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// DB is an open checkpoint. Writes go through one connection (SQLite has one
// writer anyway); reads use their own pool so that a report or status never
// waits behind the copy writer.
type DB struct {
	w    *conn
	r    *conn
	d    dialect
	lock *os.File // SQLite: held by the one process that may write
	// lockNote: the last run ended without releasing the lock (see lockFile).
	lockNote string
	pg       *pgJob  // PostgreSQL: the job's schema
	wk       *worker // PostgreSQL, for a run: this process as one of the job's workers
	path     string
	now      func() time.Time
	// created: this process created the checkpoint (see Discard).
	created bool

	recMu sync.Mutex
	rec   *recorder // the outcome writer, started by the first Record
	// batchDelay is how long an outcome may wait for its commit
	// (recordDelay; tests that crash lengthen it to lose outcomes surely).
	batchDelay time.Duration

	rowColumns string // what reads select for scanRow
	runsLater  string // what LastRun selects for the runs' columns added later
	runsByOp   string // and for their requests by operation
}

// Open opens (creating if needed) the checkpoint at path for a run: it
// takes the job's lock (one writing process per checkpoint), checks that
// the database is in WAL mode and applies pending migrations, one
// transaction per file.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("checkpoint: no database path")
	}
	if fi, err := os.Stat(path); err == nil {
		switch {
		case fi.IsDir():
			return nil, fmt.Errorf("checkpoint %s is a directory; --db names the checkpoint file", path)
		case fi.Mode().Perm()&0o200 == 0:
			// Honoured even where the process could write it anyway (root):
			// a read-only checkpoint is someone's decision.
			return nil, fmt.Errorf("checkpoint %s is read-only (mode %v); a run writes to it: make it writable (chmod u+w), "+
				"or read it with status and report", path, fi.Mode().Perm())
		}
	}
	lock, note, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	db, err := open(ctx, path, false)
	if err != nil {
		release(lock)
		return nil, err
	}
	db.lock, db.lockNote = lock, note
	return db, nil
}

// OpenReader opens an existing checkpoint for reading (status, report)
// while a run may be writing it.
func OpenReader(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return open(ctx, path, true)
}

// uriPath escapes the characters that would end or change the path part of
// an SQLite URI filename, so that the file opened is exactly path.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func open(ctx context.Context, path string, readOnly bool) (*DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// NORMAL is durable against a process crash (kill -9) in WAL mode; only
	// an OS crash can lose the last commits, which the next run reconciles.
	q.Set("_synchronous", "NORMAL")
	// Other processes (status, report) may read while a run writes.
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	// 16 MiB of page cache (SQLite's default is 2 MiB): the scan's
	// inserts and the paged reads stay in memory, and memory stays flat
	// whatever the size of the job.
	q.Set("_cache_size", "-16384")
	if readOnly {
		q.Set("_query_only", "1")
	}
	dsn := "file:" + uriPath.Replace(path) + "?" + q.Encode()

	sw, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	sw.SetMaxOpenConns(1)
	w := &conn{DB: sw, d: sqlite}
	db := &DB{w: w, d: sqlite, path: path, now: func() time.Time { return time.Now().UTC() }, rowColumns: rowColumns,
		runsLater: runsLater, runsByOp: "requests_by_op", batchDelay: recordDelay}

	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("checkpoint %s: cannot open as SQLite: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("checkpoint %s: journal mode is %q, need WAL (is the file on a network filesystem?)", path, mode)
	}
	if !readOnly {
		if err := db.migrate(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
	} else if db.rowColumns, db.runsLater, err = readColumns(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	} else if db.runsLater != runsLater {
		db.runsByOp = "'{}'"
	}
	r, err := sql.Open("sqlite3", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db.r = &conn{DB: r, d: sqlite}
	return db, nil
}

// LockNote says, when this run took over a job whose last run ended
// without releasing it, which run that was; else "".
func (db *DB) LockNote() string { return db.lockNote }

// Path is what --db names: the SQLite file, or the PostgreSQL URL (without
// its password) followed by --job and the job's name.
func (db *DB) Path() string { return db.path }

// Close flushes the outcomes recorded, closes both pools and releases the
// job's lock.
func (db *DB) Close() error {
	err := db.stopRecorder()
	if db.wk != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = errors.Join(err, db.deregister(ctx))
		cancel()
	}
	err = errors.Join(err, db.closePools())
	if db.lock != nil {
		err = errors.Join(err, release(db.lock))
	}
	return err
}

// migrate applies the migrations of db's dialect not applied yet, in
// name order, one transaction each, and records each in schema_migrations.
// On PostgreSQL every transaction first takes the job's migration lock, so
// that workers starting at once apply each migration exactly once.
func (db *DB) migrate(ctx context.Context) error {
	dir := "migrations"
	if db.d == postgres {
		dir = "migrations/postgres"
	}
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if err := db.inMigration(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	}); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// The names applied already, read once: a checkpoint that is up to
	// date opens without a transaction per migration. applyMigration
	// checks again under the lock.
	applied := map[string]bool{}
	rows, err := db.w.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("migrations: %w", err)
		}
		applied[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, name := range names {
		if applied[name] {
			continue
		}
		if err := db.inMigration(ctx, func(tx *txn) error { return db.applyMigration(ctx, tx, name) }); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// inMigration runs fn in a transaction of its own, under the migration
// lock on PostgreSQL (SQLite's transactions take the file's write lock).
func (db *DB) inMigration(ctx context.Context, fn func(*txn) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.pg != nil {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, db.pg.migrateLock); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (db *DB) applyMigration(ctx context.Context, tx *txn, name string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	// As written: a migration is in its own dialect already.
	if _, err := tx.Tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, db.stamp())
	return err
}

func (db *DB) stamp() string { return formatStamp(db.now()) }

// SaveSettings stores the job's settings (opaque JSON to this package).
func (db *DB) SaveSettings(ctx context.Context, settings []byte) error {
	now := db.stamp()
	_, err := db.w.ExecContext(ctx, `
		INSERT INTO job (id, settings, created_at, updated_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
		string(settings), now, now)
	if err != nil {
		return fmt.Errorf("save job settings: %w", err)
	}
	return nil
}

// Settings returns the stored settings; ok is false for a new database.
func (db *DB) Settings(ctx context.Context) (settings []byte, ok bool, err error) {
	var s string
	err = db.r.QueryRowContext(ctx, `SELECT settings FROM job WHERE id = 1`).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read job settings: %w", err)
	}
	return []byte(s), true, nil
}

// laterColumns stand in for the columns later migrations added, when a
// checkpoint written by an older version is read without migrating it (a
// reader must not change the file): each reads as what the migration sets.
var laterColumns = map[string]string{
	"replica_bucket_key": "(bucket_key = 1 AND replica_encryption = 'SSE-KMS') AS replica_bucket_key",
	"facts_from":         "(CASE WHEN inspected = 1 AND delete_marker = 0 THEN 'head' ELSE '' END) AS facts_from",
	"lock_mode":          "'' AS lock_mode",
	"lock_until":         "'' AS lock_until",
	"legal_hold":         "0 AS legal_hold",
}

// runsLater are the runs' columns a later migration added.
const runsLater = "copied, key_trials, requests_by_op"

// readColumns is rowColumns for the schema the database has, and what
// stands for runsLater.
func readColumns(ctx context.Context, w *conn) (cols, later string, err error) {
	have := map[string]bool{}
	for _, table := range []string{"versions", "runs"} {
		rows, err := w.QueryContext(ctx, `SELECT name FROM pragma_table_info('`+table+`')`)
		if err != nil {
			return "", "", err
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return "", "", err
			}
			have[table+"."+name] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", "", err
		}
	}
	cols = rowColumns
	for col, stand := range laterColumns {
		if !have["versions."+col] {
			cols = strings.Replace(cols, col, stand, 1)
		}
	}
	later = runsLater
	if !have["runs.copied"] {
		later = "0, 0, '{}'" // all came with the same migration
	}
	return cols, later, nil
}
