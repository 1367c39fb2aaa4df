package checkpoint

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/job/storetest"
	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/planner"
)

// TestConformancePostgres holds the PostgreSQL checkpoint to job.Store's
// contract, on the lab's server: the same suite as SQLite's.
func TestConformancePostgres(t *testing.T) {
	pg := labPostgres(t)
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) (job.Store, string) {
			name := newJobName(t, pg)
			return openPostgresConformance(t, pg, name), name
		},
		Open:  func(t *testing.T, name string) job.Store { return openPostgresConformance(t, pg, name) },
		Close: func(s job.Store) error { return s.(*DB).Close() },
		// A killed worker, whose lease then runs out before the next run.
		Crash:  func(s job.Store) error { return errors.Join(expireWorker(s.(*DB)), s.(*DB).crash()) },
		Shared: true,
	})
}

// expireWorker makes db's worker gone, as its lease running out would.
func expireWorker(db *DB) error {
	ctx := context.Background()
	return db.inTx(ctx, "expire", func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `UPDATE workers SET expires_at = now() - interval '1 second' WHERE id = ?`, db.wk.id); err != nil {
			return err
		}
		return db.setLeases(ctx, tx, `now() - interval '1 second'`)
	})
}

// labPostgres is the lab's PostgreSQL URL; the test fails without it.
func labPostgres(t testing.TB) string {
	t.Helper()
	return labenv.Get(t).PostgresURL(t)
}

// newJobName is a job name no other test uses; its schema is dropped when
// the test ends.
func newJobName(t testing.TB, pg string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() { dropJob(t, pg, name) })
	return name
}

// dropJob removes a job's schema.
func dropJob(t testing.TB, pg, name string) {
	db, err := openPostgres(context.Background(), pg, name)
	if err != nil {
		t.Errorf("drop job %s: %v", name, err)
		return
	}
	defer db.closePools()
	if _, err := db.w.ExecContext(context.Background(), `DROP SCHEMA IF EXISTS `+quoteIdent(db.pg.schema)+` CASCADE`); err != nil {
		t.Errorf("drop job %s: %v", name, err)
	}
}

func openPostgresConformance(t *testing.T, pg, name string) *DB {
	t.Helper()
	db, err := OpenPostgres(context.Background(), pg, name, 0)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	db.batchDelay = time.Hour // as openConformance
	return db
}

// TestPostgresWorkersJoinAPass: processes opening a job together are its
// workers, in one pass; one that opens it alone begins the next pass.
func TestPostgresWorkersJoinAPass(t *testing.T) {
	pg := labPostgres(t)
	ctx := context.Background()
	name := newJobName(t, pg)
	open := func() *DB {
		t.Helper()
		db, err := OpenPostgres(ctx, pg, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	first, second := open(), open()
	if first.wk.pass != 1 || second.wk.pass != 1 || first.wk.id == second.wk.id {
		t.Errorf("two workers opened together: passes %d and %d, ids %s and %s; want pass 1, two ids",
			first.wk.pass, second.wk.pass, first.wk.id, second.wk.id)
	}
	ws, err := first.Workers(ctx)
	host, _ := os.Hostname()
	if err != nil || len(ws) != 2 || !ws[0].Alive || !ws[1].Alive || ws[0].Host != host || ws[0].PID != os.Getpid() {
		t.Errorf("Workers = %+v, %v; want both alive, this host and pid", ws, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ws, err = second.Workers(ctx)
	if err != nil || len(ws) != 2 || !ws[0].Alive || ws[0].ID != second.wk.id || ws[1].Alive {
		t.Errorf("Workers after the first closed = %+v, %v; want the second alive, then the first stopped", ws, err)
	}
	third := open() // the second still runs: same pass
	if third.wk.pass != 1 {
		t.Errorf("a worker joining a live one: pass %d, want 1", third.wk.pass)
	}
	second.Close()
	third.Close()
	fourth := open()
	defer fourth.Close()
	if fourth.wk.pass != 2 {
		t.Errorf("a worker opening the job alone: pass %d, want 2", fourth.wk.pass)
	}
}

// TestPostgresMigrationsOnce: processes that start on a new job at the same
// instant create its schema and apply each migration exactly once.
func TestPostgresMigrationsOnce(t *testing.T) {
	pg := labPostgres(t)
	ctx := context.Background()
	name := newJobName(t, pg)
	const n = 6
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			db, err := openPostgres(ctx, pg, name) // no run lock: as many workers will
			if err != nil {
				errs <- err
				return
			}
			defer db.closePools()
			<-start
			err = db.inMigration(ctx, func(tx *txn) error {
				_, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(db.pg.schema))
				return err
			})
			if err == nil {
				err = db.migrate(ctx)
			}
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("migrate: %v", err)
		}
	}
	db, err := OpenPostgresReader(ctx, pg, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, _ := fs.Glob(migrations, "migrations/postgres/*.sql")
	var rows, distinct int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT name) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(names) || distinct != len(names) {
		t.Errorf("schema_migrations holds %d rows (%d names), want one for each of %d migrations", rows, distinct, len(names))
	}
}

// TestPostgresBadInput: what a user gets wrong is named, with what to do,
// and the password is in no error.
func TestPostgresBadInput(t *testing.T) {
	pg := labPostgres(t)
	ctx := context.Background()
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	withPassword := func(pw string) string {
		v := *u
		v.User = url.UserPassword(u.User.Username(), pw)
		return v.String()
	}
	// A port where nothing listens: the lab's PostgreSQL port + 50.
	down := *u
	port, _ := strconv.Atoi(u.Port())
	down.Host = fmt.Sprintf("127.0.0.1:%d", port+50)
	wrongDB := *u
	wrongDB.Path = "/no_such_database"
	for _, c := range []struct {
		name, url, job string
		want           []string
	}{
		{"unreachable", down.String(), "j1", []string{down.Host, "connection refused", "is PostgreSQL running"}},
		{"wrong password", withPassword("not-" + password), "j1", []string{u.Host, "password was refused"}},
		{"no such database", wrongDB.String(), "j1", []string{u.Host, "no_such_database", "does not exist"}},
		{"bad job name", pg, "Has Spaces", []string{"--job", "lowercase letters"}},
		{"bad URL", "postgres://u:" + password + "@127.0.0.1:notaport/db", "j1", []string{"--db", "invalid port", "postgres://user:password@host:port/database"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			db, err := OpenPostgres(cctx, c.url, c.job, 0)
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			t.Logf("%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}

	t.Run("reader of a job the database does not hold", func(t *testing.T) {
		name := newJobName(t, pg)
		db, err := OpenPostgres(ctx, pg, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = OpenPostgresReader(ctx, pg, "no-such-job")
		if err == nil || !strings.Contains(err.Error(), `no job "no-such-job"`) || !strings.Contains(err.Error(), name) ||
			strings.Contains(err.Error(), password) {
			t.Errorf("OpenPostgresReader of a missing job = %v, want it named with the jobs there, no password", err)
		}
	})
}

// newDatabase is a database of the test's own on the lab's server (jobs of
// other tests are not in it), dropped when the test ends; its URL.
func newDatabase(t *testing.T, pg string) string {
	t.Helper()
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 5)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", pg)
		if err == nil {
			admin.Exec(`DROP DATABASE ` + name + ` WITH (FORCE)`)
			admin.Close()
		}
	})
	u, _ := url.Parse(pg)
	u.Path = "/" + name
	return u.String()
}

func TestDeriveJob(t *testing.T) {
	for _, c := range []struct{ src, dst, want string }{
		{"s3://src", "s3://dst", "src-to-dst"},
		{"s3://src/logs/2024/", "s3://dst/archive", "src.logs.2024-to-dst.archive"},
		{"s3://my.bucket", "s3://other-bucket", "my.bucket-to-other-bucket"},
		// Changed to fit: a hash of the original keeps them apart.
		{"s3://src/Logs", "s3://dst", "src.logs-to-dst-"},
		{"s3://src/logs", "s3://dst/a b", "src.logs-to-dst.a_b-"},
		{"s3://a-very-long-bucket-name-for-the-source", "s3://a-very-long-bucket-name-for-the-destination", "a-very-long-bucket-name-for-the-source-to-"},
	} {
		got := DeriveJob(c.src, c.dst)
		hashed := strings.HasSuffix(c.want, "-") // want is the part before an 8-digit hash
		if hashed && (!strings.HasPrefix(got, c.want) || len(got) != len(c.want)+8) || !hashed && got != c.want {
			t.Errorf("DeriveJob(%q, %q) = %q, want %q…", c.src, c.dst, got, c.want)
		}
		if !jobName.MatchString(got) {
			t.Errorf("DeriveJob(%q, %q) = %q: not a job name", c.src, c.dst, got)
		}
	}
	if DeriveJob("s3://src/Logs", "s3://dst") == DeriveJob("s3://src/logs", "s3://dst") {
		t.Error("two jobs whose prefixes differ in case got one name")
	}
}

// TestTargetJob: without --job, a run names the job after its buckets,
// and any command finds the database's only job; with several it must be
// told which.
func TestTargetJob(t *testing.T) {
	ctx := context.Background()
	pg := newDatabase(t, labPostgres(t))
	if _, err := OpenTargetReader(ctx, Target{DB: pg}); err == nil || !strings.Contains(err.Error(), "holds no s3backfill job") {
		t.Errorf("reader of an empty database = %v", err)
	}
	if _, err := OpenTarget(ctx, Target{DB: pg}); err == nil || !strings.Contains(err.Error(), "needs --source and --dest") {
		t.Errorf("run without a job name or buckets = %v", err)
	}
	db, err := OpenTarget(ctx, Target{DB: pg, Source: "s3://src", Dest: "s3://dst"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSettings(ctx, []byte(`{"source":"s3://src"}`)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := OpenTargetReader(ctx, Target{DB: pg})
	if err != nil {
		t.Fatalf("the only job: %v", err)
	}
	if got := r.Path(); !strings.HasSuffix(got, "--job src-to-dst") || strings.Contains(got, labPassword(t)) {
		t.Errorf("Path() = %q", got)
	}
	r.Close()

	// A first run that fails before storing its settings leaves nothing.
	db, err = OpenTarget(ctx, Target{DB: pg, Job: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	if db, err = OpenTarget(ctx, Target{DB: pg}); err != nil {
		t.Fatalf("after the discarded job, the only job: %v", err)
	}
	db.Close()

	db, err = OpenTarget(ctx, Target{DB: pg, Job: "second"})
	if err != nil {
		t.Fatal(err)
	}
	db.SaveSettings(ctx, []byte(`{}`))
	if err := db.Discard(ctx); err != nil { // stored: kept
		t.Fatal(err)
	}
	_, err = OpenTargetReader(ctx, Target{DB: pg})
	var usage UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "2 jobs (second, src-to-dst): say which with --job") {
		t.Errorf("two jobs, no --job = %v", err)
	}
	if _, err := OpenTargetReader(ctx, Target{DB: filepath.Join(t.TempDir(), "x.db"), Job: "a"}); !errors.As(err, &usage) {
		t.Errorf("--job with a file = %v, want a usage error", err)
	}
}

func labPassword(t *testing.T) string {
	u, err := url.Parse(labPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	return pw
}

// TestMoveToPostgres: the checkpoint an earlier release wrote (a job half
// done: rows copied, in doubt, an upload with parts), moved into
// PostgreSQL, reads there exactly as it does in SQLite, and its ids go on.
func TestMoveToPostgres(t *testing.T) {
	ctx := context.Background()
	pg := labPostgres(t)
	src, err := Open(ctx, copyFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	name := newJobName(t, pg)
	st, err := MoveToPostgres(ctx, src, pg, name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Versions != int64(len(fixtureRows())) || st.Uploads != 1 || st.Parts == 0 || st.Scans == 0 {
		t.Errorf("moved %+v", st)
	}
	dst, err := OpenPostgresReader(ctx, pg, name)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	read := func(db *DB) (out []any) {
		var rows []planner.Row
		if err := db.EachRow(ctx, "", func(r planner.Row) error { rows = append(rows, r); return nil }); err != nil {
			t.Fatal(err)
		}
		settings, _, err := db.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		uploads, err := db.Uploads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var parts []*planner.Upload
		for _, u := range uploads {
			full, err := db.LoadUpload(ctx, u.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, full)
		}
		counts, err := db.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last, err := db.LastRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return []any{rows, string(settings), uploads, parts, counts, last}
	}
	want, got := read(src), read(dst)
	for i, what := range []string{"rows", "settings", "uploads", "parts", "counts", "last run"} {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s in PostgreSQL:\n%+v\nin SQLite:\n%+v", what, got[i], want[i])
		}
	}

	// A run on the moved job goes on from the ids moved.
	w, err := OpenPostgres(ctx, pg, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var maxID int64
	w.r.QueryRowContext(ctx, `SELECT MAX(id) FROM versions`).Scan(&maxID)
	if _, err := w.RecordScan(ctx, []string{"dst"}, func(add func(planner.Version) error) error {
		return add(planner.Version{Key: "new", VersionID: "n1", IsLatest: true, Size: 1})
	}); err != nil {
		t.Fatal(err)
	}
	var newID int64
	if err := w.r.QueryRowContext(ctx, `SELECT id FROM versions WHERE key = 'new'`).Scan(&newID); err != nil || newID <= maxID {
		t.Errorf("a new row got id %d (%v), want one above the moved %d", newID, err, maxID)
	}

	// Moving it again is refused: the job is there.
	if _, err := MoveToPostgres(ctx, src, pg, name); err == nil || !strings.Contains(err.Error(), "already holds a job") {
		t.Errorf("a second move = %v, want it refused", err)
	}
}
