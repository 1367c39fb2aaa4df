package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenCreatesWALAndMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "job.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	var mode string
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	// In WAL mode, commits go to a -wal file next to the database.
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file next to the database: %v", err)
	}

	var busy int
	if err := db.r.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if busy <= 0 {
		t.Errorf("busy_timeout = %d, want a positive timeout", busy)
	}

	if got, want := migrationNames(t, db), migrationFiles(t); got != want {
		t.Errorf("applied migrations = %q, want %q", got, want)
	}
	for _, table := range []string{"job", "scans", "versions"} {
		var n int
		if err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s missing after Open", table)
		}
	}
}

// migrationNames lists the applied migrations, in order.
func migrationNames(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.w.Query(`SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, " ")
}

// migrationFiles lists the embedded migrations, in order.
func migrationFiles(t *testing.T) string {
	t.Helper()
	ents, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, "migrations/"+e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no migrations found")
	}
	return strings.Join(names, " ")
}

func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "job.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSettings(ctx, []byte(`{"source":"s3://a"}`)); err != nil {
		t.Fatal(err)
	}
	scanAll(t, db, listing{"k", []string{"v2", "v1"}})
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 3 {
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if got, want := migrationNames(t, db), migrationFiles(t); got != want {
			t.Errorf("reopen %d: migrations = %q, want %q", i, got, want)
		}
		s, ok, err := db.Settings(ctx)
		if err != nil || !ok || string(s) != `{"source":"s3://a"}` {
			t.Errorf("reopen %d: Settings = %q, %v, %v", i, s, ok, err)
		}
		if got := history(t, db); got != "k: v1 v2" {
			t.Errorf("reopen %d: history = %q", i, got)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenTakesTheJobLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "job.db")
	first, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		second, err := Open(ctx, path)
		if err == nil {
			second.Close()
			first.Close()
			t.Fatalf("attempt %d: a second Open of a checkpoint in use succeeded", i)
		}
		var locked LockedError
		if !errors.As(err, &locked) {
			t.Errorf("attempt %d: %v is not a LockedError (exit code 5)", i, err)
		}
		host, _ := os.Hostname()
		for _, want := range []string{path, "another s3backfill run holds this job", fmt.Sprintf("(pid %d on host %s, started ", os.Getpid(), host)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("attempt %d: error %q does not contain %q", i, err, want)
			}
		}
	}
	// The failed attempts did not disturb the owner.
	if err := first.SaveSettings(ctx, []byte(`{}`)); err != nil {
		t.Errorf("owner cannot write after a refused Open: %v", err)
	}
	owner, err := os.ReadFile(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if got, want := string(owner), fmt.Sprintf("%d %s ", os.Getpid(), host); !strings.HasPrefix(got, want) {
		t.Errorf("lock file holds %q, want it to start with %q and the start time", got, want)
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after the owner closed: %v", err)
	}
	again.Close()
}

func TestOpenLockOwnerUnknown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "job.db")
	first, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Someone scribbled over the pid; the message still makes sense.
	if err := os.WriteFile(path+".lock", []byte("not a pid"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "(pid unknown)") {
		t.Errorf("Open = %v, want an error naming an unknown pid", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, ""); err == nil {
		t.Error(`Open("") succeeded`)
	}

	notDB := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, notDB)
	if err == nil {
		t.Fatal("Open of a text file succeeded")
	}
	if !strings.Contains(err.Error(), notDB) || !strings.Contains(err.Error(), "cannot open as SQLite") {
		t.Errorf("Open of a text file = %q, want it to name the file and say it is not SQLite", err)
	}
	// The refused Open released the lock.
	if f, _, err := lockFile(notDB + ".lock"); err != nil {
		t.Errorf("lock still held after a failed Open: %v", err)
	} else {
		f.Close()
	}

	if _, err := Open(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "job.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestOpenReaderWhileWriterIsOpen(t *testing.T) {
	ctx := context.Background()
	w := openTest(t)
	if err := w.SaveSettings(ctx, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	scanAll(t, w, listing{"a", []string{"v1"}})

	r, err := OpenReader(ctx, w.Path())
	if err != nil {
		t.Fatalf("OpenReader while a writer is open: %v", err)
	}
	defer r.Close()
	if s, ok, err := r.Settings(ctx); err != nil || !ok || string(s) != `{"n":1}` {
		t.Errorf("reader Settings = %q, %v, %v", s, ok, err)
	}

	// The reader sees what the writer commits after it opened.
	scanAll(t, w, listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}})
	if got := history(t, r); got != "a: v1 v2; b: v1" {
		t.Errorf("reader history = %q", got)
	}
	if n, err := r.CountToPlan(ctx); err != nil || n != 3 {
		t.Errorf("reader CountToPlan = %d, %v; want 3", n, err)
	}

	// The reader cannot write.
	if err := r.SaveSettings(ctx, []byte(`{"n":2}`)); err == nil {
		t.Error("a reader saved settings")
	}
	if s, _, _ := w.Settings(ctx); string(s) != `{"n":1}` {
		t.Errorf("settings after a reader's write = %q", s)
	}

	// The writer can still write while the reader is open.
	if err := w.SaveSettings(ctx, []byte(`{"n":3}`)); err != nil {
		t.Errorf("writer blocked by a reader: %v", err)
	}
	if s, _, _ := r.Settings(ctx); string(s) != `{"n":3}` {
		t.Errorf("reader Settings after the writer's update = %q", s)
	}
}

// TestSettingsStamps: the job table holds one row, stamped with the clock
// (the round trip itself is the conformance suite's).
func TestSettingsStamps(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for _, v := range []string{`{"source":"s3://a"}`, `{"source":"s3://b"}`} {
		if err := db.SaveSettings(ctx, []byte(v)); err != nil {
			t.Fatalf("SaveSettings(%s): %v", v, err)
		}
	}
	var created, updated string
	if err := db.w.QueryRow(`SELECT created_at, updated_at FROM job`).Scan(&created, &updated); err != nil {
		t.Fatal(err)
	}
	if created != stamp || updated != stamp {
		t.Errorf("job stamps = %q, %q; want %q", created, updated, stamp)
	}
	var n int
	if err := db.w.QueryRow(`SELECT COUNT(*) FROM job`).Scan(&n); err != nil || n != 1 {
		t.Errorf("job rows = %d, %v; want 1", n, err)
	}
}

// TestLockTakeover: a run that ended cleanly leaves nobody named in the
// lock file; one that did not (its owner still named there: killed) is
// taken over with a note naming it, and that its pid is gone.
func TestLockTakeover(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "job.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if db.LockNote() != "" {
		t.Errorf("a new checkpoint: note %q", db.LockNote())
	}
	db.Close()
	if b, _ := os.ReadFile(path + ".lock"); len(b) != 0 {
		t.Errorf("after a clean end the lock file names %q", b)
	}
	host, _ := os.Hostname()
	if err := os.WriteFile(path+".lock", []byte(fmt.Sprintf("999999999 %s 2026-11-30T01:02:03Z\n", host)), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := fmt.Sprintf("the last run of this job (pid 999999999 on host %s, started 2026-11-30T01:02:03Z) ended without releasing it "+
		"(killed, or its machine stopped; pid 999999999 is gone); taking over", host)
	if db.LockNote() != want {
		t.Errorf("note %q\nwant %q", db.LockNote(), want)
	}
}
