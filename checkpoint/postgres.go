package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// A PostgreSQL checkpoint keeps each job in a schema of its own, named
// after the job, so that one database holds many jobs and no table names
// the job. Each migration's transaction takes the job's advisory lock, so
// that processes starting at once apply it once. Many processes may run a
// job together: see shared.go.

// IsPostgres reports whether --db names a PostgreSQL database rather than
// an SQLite file.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// jobName is what --job accepts: it becomes part of a schema name.
var jobName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,49}$`)

// schemaPrefix starts the name of every job's schema.
const schemaPrefix = "s3backfill_"

// pgJob is what a PostgreSQL checkpoint knows of its job and server.
type pgJob struct {
	name        string
	schema      string
	where       string    // the URL without its password, for messages
	runLock     int64     // advisory lock held while a process runs the job
	migrateLock int64     // advisory lock of the job's migrations
	held        *sql.Conn // the session holding runLock; nil for a reader
	pool        *sql.DB   // the pool held is from
}

// lockKey is an advisory lock's key for what.
func lockKey(what string) int64 {
	h := fnv.New64a()
	h.Write([]byte(what))
	return int64(h.Sum64())
}

// pgConfig parses a PostgreSQL URL (libpq's environment variables such as
// PGPASSWORD and the password file fill what it leaves out) for job's
// schema. Errors never carry the password.
func pgConfig(rawURL, job string) (*pgx.ConnConfig, *pgJob, error) {
	if !jobName.MatchString(job) {
		return nil, nil, fmt.Errorf("--job %q: a job name is 1 to 50 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", job)
	}
	if _, err := url.Parse(rawURL); err != nil {
		why := "it does not parse"
		var uerr *url.Error
		if errors.As(err, &uerr) {
			why = uerr.Err.Error() // without the URL, which holds the password
		}
		return nil, nil, fmt.Errorf("--db: not a PostgreSQL URL (%s); the form is postgres://user:password@host:port/database?sslmode=…",
			scrub(why, rawURL))
	}
	where := RedactURL(rawURL)
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("--db %s: %s", where, scrub(err.Error(), rawURL))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	schema := schemaPrefix + job
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["search_path"] = quoteIdent(schema)
	host, _ := os.Hostname()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("s3backfill %s pid %d", host, os.Getpid())
	return cfg, &pgJob{
		name: job, schema: schema, where: where,
		migrateLock: lockKey("s3backfill migrate " + schema),
	}, nil
}

// OpenPostgres opens (creating if needed) job's checkpoint in the
// PostgreSQL database at rawURL for a run: it takes the job's run lock
// (one process per job), creates the job's schema and applies pending
// migrations.
func OpenPostgres(ctx context.Context, rawURL, job string, lease time.Duration) (*DB, error) {
	if lease == 0 {
		lease = DefaultLease
	}
	if lease < time.Second {
		return nil, usagef("--lease %s: a lease shorter than a second would run out between heartbeats", lease)
	}
	db, err := openPostgres(ctx, rawURL, job)
	if err != nil {
		return nil, err
	}
	if err := db.inMigration(ctx, func(tx *txn) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)`, db.pg.schema).Scan(&exists); err != nil {
			return err
		}
		db.created = !exists
		_, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(db.pg.schema))
		return err
	}); err != nil {
		db.closePools()
		return nil, db.pgErr("create the job's schema", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.closePools()
		return nil, db.pgErr("migrate", err)
	}
	if err := db.register(ctx, lease); err != nil {
		db.closePools()
		return nil, err
	}
	return db, nil
}

// OpenPostgresReader opens job's checkpoint for reading (status, report)
// while a run may be writing it.
func OpenPostgresReader(ctx context.Context, rawURL, job string) (*DB, error) {
	db, err := openPostgres(ctx, rawURL, job)
	if err != nil {
		return nil, err
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = ? AND table_name = 'job'`, db.pg.schema).Scan(&n); err != nil {
		db.closePools()
		return nil, db.pgErr("look for the job", err)
	}
	if n == 0 {
		jobs, _ := db.jobs(ctx)
		db.closePools()
		if len(jobs) == 0 {
			return nil, fmt.Errorf("%s holds no s3backfill job", db.pg.where)
		}
		return nil, fmt.Errorf("%s holds no job %q; it holds: %s", db.pg.where, job, strings.Join(jobs, ", "))
	}
	return db, nil
}

func openPostgres(ctx context.Context, rawURL, job string) (*DB, error) {
	cfg, pj, err := pgConfig(rawURL, job)
	if err != nil {
		return nil, err
	}
	w := stdlib.OpenDB(*cfg)
	w.SetMaxOpenConns(4)
	r := stdlib.OpenDB(*cfg)
	r.SetMaxOpenConns(4)
	db := &DB{w: &conn{DB: w, d: postgres}, r: &conn{DB: r, d: postgres}, d: postgres, pg: pj, path: pj.where + " --job " + job,
		now: func() time.Time { return time.Now().UTC() }, rowColumns: rowColumns,
		runsLater: runsLater, runsByOp: "requests_by_op", batchDelay: recordDelay}
	db.w.retry, db.r.retry = db.retry, db.retry
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+5*time.Second)
	defer cancel()
	if err := w.PingContext(pingCtx); err != nil {
		db.closePools()
		return nil, db.pgErr("connect", err)
	}
	return db, nil
}

// jobs lists the jobs the database holds.
func (db *DB) jobs(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT table_schema FROM information_schema.tables
		WHERE table_name = 'job' AND starts_with(table_schema, ?) ORDER BY 1`, schemaPrefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimPrefix(s, schemaPrefix))
	}
	return out, rows.Err()
}

// closePools closes the connections, which releases the run lock.
func (db *DB) closePools() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// pgErr says what failed where, in words a user can act on, never with
// the password.
func (db *DB) pgErr(what string, err error) error {
	msg := err.Error()
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "28P01":
		msg = "the password was refused (check the URL's password, PGPASSWORD or the password file)"
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		msg = pgErr.Message + " (create it, or name another database in the URL)"
	case errors.As(err, &pgErr):
		msg = pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	case what == "connect":
		msg += " (is PostgreSQL running there, and reachable from this machine?)"
	}
	return fmt.Errorf("checkpoint %s (job %s): %s: %s", db.pg.where, db.pg.name, what, msg)
}

// RedactURL is rawURL without its password.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the PostgreSQL URL given (unparsable)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// scrub takes the password of rawURL out of msg.
func scrub(msg, rawURL string) string {
	var pws []string
	if u, err := url.Parse(rawURL); err == nil {
		pws = append(pws, passwordOf(u), u.Query().Get("password"))
	} else if m := userinfoPassword.FindStringSubmatch(rawURL); m != nil {
		pws = append(pws, m[1]) // what would be the password, were the URL valid
	}
	for _, pw := range pws {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// userinfoPassword finds the password in a URL that does not parse.
var userinfoPassword = regexp.MustCompile(`^[a-z]+://[^:/@]*:([^@]*)@`)

func passwordOf(u *url.URL) string {
	pw, _ := u.User.Password()
	return pw
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
