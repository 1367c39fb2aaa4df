package checkpoint

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job/storetest"
	"github.com/s3backfill/s3backfill/planner"
)

// The contract's behaviour is tested by the conformance suite
// (conformance_test.go); the tests of this package check what is SQLite's
// own: the file, its lock, migrations, read-only opening, the SQL and the
// stamps.

// clock is the fixed time the test databases stamp rows with.
var clock = time.Date(2025, 3, 4, 5, 6, 7, 800, time.UTC)

// stamp is clock as the database writes it.
var stamp = clock.Format(time.RFC3339Nano)

// openTest opens a new checkpoint under t.TempDir() with a fixed clock and
// closes it when the test ends.
func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "job.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	db.now = func() time.Time { return clock }
	t.Cleanup(func() { db.Close() })
	return db
}

// listing is what a scan lists for one key: version ids newest first.
type listing struct {
	key string
	ids []string
}

// ver is the planner.Version a listing gives for the rank-th newest version.
func ver(key, id string, rank int) planner.Version {
	return planner.Version{Key: key, VersionID: id, Rank: rank, IsLatest: rank == 0, Size: int64(len(key) + len(id)),
		ETag: "etag-" + id, LastModified: clock.Add(-time.Duration(rank) * time.Hour)}
}

// scanAll runs one complete scan of the listings, in listing order.
func scanAll(t *testing.T, db *DB, ls ...listing) planner.ScanStats {
	t.Helper()
	ctx := context.Background()
	s, err := db.BeginScan(ctx, testDests)
	if err != nil {
		t.Fatalf("BeginScan: %v", err)
	}
	for _, l := range ls {
		for rank, id := range l.ids {
			if err := s.Add(ctx, ver(l.key, id, rank)); err != nil {
				t.Fatalf("Add %s@%s: %v", l.key, id, err)
			}
		}
	}
	st, err := s.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return st
}

// allRows returns EachRow's rows.
func allRows(t *testing.T, db *DB) []planner.Row {
	t.Helper()
	var rows []planner.Row
	if err := db.EachRow(context.Background(), "", func(r planner.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatalf("EachRow: %v", err)
	}
	return rows
}

// history renders every key's versions in EachRow order, oldest first:
// "a: v1 v2 v3; b: v1".
func history(t *testing.T, db *DB) string {
	t.Helper()
	return storetest.History(allRows(t, db), "")
}

// ids returns the row ids of versions given as "key@vid".
func ids(t *testing.T, db *DB, versions ...string) []int64 {
	t.Helper()
	var out []int64
	for _, v := range versions {
		key, vid, ok := strings.Cut(v, "@")
		if !ok {
			t.Fatalf("bad version %q", v)
		}
		found := false
		for _, r := range allRows(t, db) {
			if r.Key == key && r.VersionID == vid {
				out, found = append(out, r.ID), true
				break
			}
		}
		if !found {
			t.Fatalf("no row %s", v)
		}
	}
	return out
}

// plan saves a copy plan (pending) for the versions.
func plan(t *testing.T, db *DB, versions ...string) {
	t.Helper()
	var plans []planner.Plan
	for _, id := range ids(t, db, versions...) {
		plans = append(plans, planner.Plan{TaskID: id, Inspection: planner.Inspection{Inspected: true, Encryption: planner.SSES3},
			Decision: planner.Decision{Action: planner.Copy, DestKey: "dst/k"}, Status: planner.StatusPending})
	}
	if err := db.SavePlans(context.Background(), plans); err != nil {
		t.Fatalf("SavePlans: %v", err)
	}
}

// statuses renders "key@vid=status" for every row, in EachRow order.
func statuses(t *testing.T, db *DB) string {
	t.Helper()
	var parts []string
	for _, r := range allRows(t, db) {
		parts = append(parts, fmt.Sprintf("%s@%s=%s", r.Key, r.VersionID, r.Status))
	}
	return strings.Join(parts, " ")
}

// The destination bucket of the tests.
const testDest = "dst"

var testDests = []string{testDest}
