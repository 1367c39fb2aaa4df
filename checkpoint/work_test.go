package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// The work and outcome promises are the conformance suite's; these tests
// check the stamps SQLite writes, a reader's view of the writer, and the
// writer's own context and errors.

// TestClaimAndOutcomeStamps: claims stamp claimed_at with the clock (a
// later claim moves it), outcomes stamp finished_at, and a reader sees an
// outcome as soon as Flush returns.
func TestClaimAndOutcomeStamps(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	scanAll(t, db, listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}})
	plan(t, db, "a@v1", "a@v2", "b@v1")
	rows := ids(t, db, "a@v1", "a@v2", "b@v1")
	if err := db.Claim(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range allRows(t, db) {
		if formatStamp(r.ClaimedAt) != stamp {
			t.Errorf("%s@%s claimed at %v, want %s", r.Key, r.VersionID, r.ClaimedAt, stamp)
		}
	}
	later := clock.Add(90 * time.Minute)
	db.now = func() time.Time { return later }
	if err := db.Claim(ctx, rows[2:]); err != nil {
		t.Fatal(err)
	}
	if r := allRows(t, db)[2]; r.Attempts != 2 || !r.ClaimedAt.Equal(later) {
		t.Errorf("b@v1 after a second claim: attempts %d claimed at %v, want 2, %v", r.Attempts, r.ClaimedAt, later)
	}

	reader, err := OpenReader(ctx, db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for _, o := range []planner.Outcome{
		{TaskID: rows[0], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "r1"}},
		{TaskID: rows[1], Status: planner.StatusFailed, ErrorCode: "X"},
	} {
		if err := db.Record(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := statuses(t, reader), "a@v1=succeeded a@v2=failed b@v1=copying"; got != want {
		t.Errorf("a reader after Flush sees %q, want %q", got, want)
	}
	var finished []string
	q, err := db.w.QueryContext(ctx, `SELECT key || '@' || version_id, finished_at FROM versions WHERE finished_at != '' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for q.Next() {
		var v, at string
		if err := q.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if at != later.Format(time.RFC3339Nano) {
			t.Errorf("%s finished_at = %q, want %q", v, at, later.Format(time.RFC3339Nano))
		}
		finished = append(finished, v)
	}
	if got, want := strings.Join(finished, " "), "a@v2 a@v1"; got != want {
		t.Errorf("rows with an outcome = %q, want %q", got, want)
	}
}

// TestErrorsNameTheRow: a plan or an outcome the database refuses names
// its row, and the writer keeps answering with its first error.
func TestErrorsNameTheRow(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	scanAll(t, db, listing{"k", []string{"v2", "v1"}})
	rows := ids(t, db, "k@v1", "k@v2")
	err := db.SavePlans(ctx, []planner.Plan{{TaskID: rows[1], Decision: planner.Decision{Action: planner.Copy}, Status: "bogus"}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("row %d", rows[1])) {
		t.Errorf("SavePlans of a bad status = %v, want it to name row %d", err, rows[1])
	}
	if err := db.Record(planner.Outcome{TaskID: rows[0], Status: "done"}); err != nil {
		t.Fatal(err)
	}
	ferr := db.Flush()
	if ferr == nil || !strings.Contains(ferr.Error(), fmt.Sprintf("row %d", rows[0])) {
		t.Errorf("Flush of a bad status = %v, want it to name row %d", ferr, rows[0])
	}
	if err := db.Flush(); !errors.Is(err, ferr) {
		t.Errorf("Flush again = %v, want the first error %v", err, ferr)
	}
	if err := db.Record(planner.Outcome{TaskID: rows[1], Status: planner.StatusSucceeded}); !errors.Is(err, ferr) {
		t.Errorf("Record after the failed commit = %v, want the first error %v", err, ferr)
	}
	if err := db.Close(); !errors.Is(err, ferr) {
		t.Errorf("Close after the failed commit = %v, want the first error %v", err, ferr)
	}
}

// TestRecorderOutlivesCancellation: outcomes recorded after the run's
// context is cancelled (an interrupt) are still committed.
func TestRecorderOutlivesCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "job.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.BeginScan(ctx, testDests)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Add(ctx, ver(fmt.Sprintf("k%d", i), "v1", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, r := range allRows(t, db) {
		all = append(all, r.ID)
	}
	if err := db.Claim(ctx, all); err != nil {
		t.Fatal(err)
	}
	rec := db
	if err := rec.Record(planner.Outcome{Replica: planner.Replica{VersionID: "before-cancel"}, TaskID: all[0], Status: planner.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}

	cancel()
	// The cancelled context really stops the run's own work.
	if err := db.Claim(ctx, all[1:]); !errors.Is(err, context.Canceled) {
		t.Fatalf("Claim on a cancelled context = %v, want context.Canceled", err)
	}
	for _, id := range all[1:3] {
		if err := rec.Record(planner.Outcome{Replica: planner.Replica{VersionID: "after-cancel"}, TaskID: id, Status: planner.StatusSucceeded}); err != nil {
			t.Fatalf("Record after cancel: %v", err)
		}
	}
	if err := rec.Record(planner.Outcome{TaskID: all[3], Status: planner.StatusPending}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	reader, err := OpenReader(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if got, want := statuses(t, reader), "k0@v1=succeeded k1@v1=succeeded k2@v1=succeeded k3@v1=pending k4@v1=copying"; got != want {
		t.Errorf("statuses = %q, want %q", got, want)
	}
	if r := allRows(t, reader)[1]; r.Key != "k1" || r.Replica.VersionID != "after-cancel" {
		t.Errorf("k1@v1 = %+v, want dest version after-cancel", r)
	}
}
