package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Target is the checkpoint the command line names: --db (an SQLite file,
// or a PostgreSQL URL) and, for PostgreSQL, --job.
type Target struct {
	DB  string
	Job string // PostgreSQL only; "" = derived from Source and Dest, else the database's only job
	// Source and Dest, as given now (maybe ""), name a new job.
	Source, Dest string
	// Lease is how long a PostgreSQL worker's claims outlive its last
	// heartbeat (0: DefaultLease).
	Lease time.Duration
}

// UsageError is a --db or --job the user must change.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// OpenTarget opens t's checkpoint for a run (see Open and OpenPostgres),
// creating it if needed.
func OpenTarget(ctx context.Context, t Target) (*DB, error) {
	if !IsPostgres(t.DB) {
		if err := t.fileOnly(); err != nil {
			return nil, err
		}
		_, statErr := os.Stat(t.DB)
		db, err := Open(ctx, t.DB)
		if err != nil {
			return nil, err
		}
		db.created = errors.Is(statErr, os.ErrNotExist)
		return db, nil
	}
	job, err := t.jobName(ctx, true)
	if err != nil {
		return nil, err
	}
	return OpenPostgres(ctx, t.DB, job, t.Lease)
}

// OpenTargetReader opens t's existing checkpoint for status and report.
func OpenTargetReader(ctx context.Context, t Target) (*DB, error) {
	if !IsPostgres(t.DB) {
		if err := t.fileOnly(); err != nil {
			return nil, err
		}
		if _, err := os.Stat(t.DB); err != nil {
			return nil, usagef("--db %s: %v", t.DB, errors.Unwrap(err))
		}
		return OpenReader(ctx, t.DB)
	}
	job, err := t.jobName(ctx, false)
	if err != nil {
		return nil, err
	}
	return OpenPostgresReader(ctx, t.DB, job)
}

func (t Target) fileOnly() error {
	if t.DB == "" {
		return usagef("--db is needed: the job's checkpoint (a FILE, or a postgres:// URL)")
	}
	if t.Job != "" {
		return usagef("--job names a job in a PostgreSQL --db; the file %s holds one job", t.DB)
	}
	return nil
}

// jobName is t's job: --job; else, with --source and --dest, the name
// derived from them (a run only); else the one job the database holds.
func (t Target) jobName(ctx context.Context, run bool) (string, error) {
	switch {
	case t.Job != "":
		return t.Job, nil
	case run && t.Source != "" && t.Dest != "":
		return DeriveJob(t.Source, t.Dest), nil
	}
	db, err := openPostgres(ctx, t.DB, "any")
	if err != nil {
		return "", err
	}
	defer db.closePools()
	jobs, err := db.jobs(ctx)
	if err != nil {
		return "", db.pgErr("list the jobs", err)
	}
	switch len(jobs) {
	case 1:
		return jobs[0], nil
	case 0:
		return "", usagef("%s holds no s3backfill job yet: a first run needs --source and --dest (and may name the job with --job)", db.pg.where)
	}
	return "", usagef("%s holds %d jobs (%s): say which with --job", db.pg.where, len(jobs), strings.Join(jobs, ", "))
}

// DeriveJob is the name of the job from source to dest when --job is not
// given: both buckets and prefixes, made fit for a name; when that had to
// change or cut them, a hash of both keeps names of different jobs apart.
func DeriveJob(source, dest string) string {
	part := func(s string) string {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "s3://"), "/")
		return strings.ReplaceAll(s, "/", ".")
	}
	raw := part(source) + "-to-" + part(dest)
	var b strings.Builder
	for _, c := range strings.ToLower(raw) {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if name != raw || len(name) > 50 {
		sum := sha256.Sum256([]byte(source + "\x00" + dest))
		name = strings.TrimRight(name[:min(len(name), 41)], "._-") + "-" + hex.EncodeToString(sum[:4])
		name = strings.TrimLeft(name, "-")
	}
	return name
}

// Discard closes a checkpoint this process created and removes it, when
// the job could not start and nothing was stored in it; any other it just
// closes.
func (db *DB) Discard(ctx context.Context) error {
	_, stored, serr := db.Settings(ctx)
	if !db.created || stored || serr != nil {
		return db.Close()
	}
	if db.pg != nil {
		err := db.stopRecorder()
		others := 1
		if db.wk != nil {
			err = errors.Join(err, db.deregister(ctx))
			err = errors.Join(err, db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM workers
				WHERE expires_at > now() AND stopped_at IS NULL`).Scan(&others))
			db.wk = nil
		}
		if others == 0 { // no other process has joined the job meanwhile
			_, derr := db.w.ExecContext(ctx, `DROP SCHEMA `+quoteIdent(db.pg.schema)+` CASCADE`)
			err = errors.Join(err, derr)
		}
		return errors.Join(err, db.closePools())
	}
	err := db.Close()
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		os.Remove(db.path + suffix)
	}
	return err
}
