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

// workString renders NextWork's answer: "a todo=[v2 v4] done=[v1]", with
// " in-doubt" when an earlier run left rows claimed. Done versions are
// named by their replica ids, which the record helper makes "dst-KEY@VID".
func workString(work []planner.KeyWork) string {
	var parts []string
	for _, w := range work {
		var todo, done []string
		inDoubt := false
		for _, t := range w.Tasks {
			if t.Key != w.Key {
				return fmt.Sprintf("row %s@%s listed under key %s", t.Key, t.VersionID, w.Key)
			}
			todo = append(todo, t.VersionID)
			inDoubt = inDoubt || t.InDoubt()
		}
		for _, id := range w.Replicas {
			done = append(done, strings.TrimPrefix(id, "dst-"+w.Key+"@"))
		}
		s := fmt.Sprintf("%s todo=[%s] done=[%s]", w.Key, strings.Join(todo, " "), strings.Join(done, " "))
		if inDoubt {
			s += " in-doubt"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// workFixture is a checkpoint with every kind of row:
//
//	a: v1 succeeded, v2 pending copy, v3 skipped, v4 failed copy, v5 unplanned
//	b: v1 skipped
//	c: v1 pending multipart
//	d: v1 pending delete-marker
//	e: v1 failed by the planner (action "fail")
//	f: v1 succeeded, v2 claimed by a run that stopped (copying)
//	g: v1 unplanned
func workFixture(t *testing.T) *DB {
	t.Helper()
	db := openTest(t)
	scanAll(t, db,
		listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}},
		listing{"b", []string{"v1"}},
		listing{"c", []string{"v1"}},
		listing{"d", []string{"dm1"}},
		listing{"e", []string{"v1"}},
		listing{"f", []string{"v2", "v1"}},
		listing{"g", []string{"v1"}},
	)
	plan(t, db, "copy", planner.StatusPending, "a@v1", "a@v2", "a@v4", "f@v1", "f@v2")
	plan(t, db, "skip", planner.StatusSkipped, "a@v3", "b@v1")
	plan(t, db, "multipart", planner.StatusPending, "c@v1")
	plan(t, db, "delete-marker", planner.StatusPending, "d@dm1")
	plan(t, db, "fail", planner.StatusFailed, "e@v1")
	record(t, db, planner.StatusSucceeded, "a@v1", "f@v1")
	record(t, db, planner.StatusFailed, "a@v4")
	if err := db.Claim(context.Background(), ids(t, db, "f@v2")); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestNextWork(t *testing.T) {
	ctx := context.Background()
	db := workFixture(t)

	all := "a todo=[v2 v4] done=[v1]; c todo=[v1] done=[]; d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"
	work, err := db.NextWork(ctx, planner.KeyCursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := workString(work); got != all {
		t.Errorf("NextWork = %q\nwant %q", got, all)
	}

	tests := []struct {
		after string
		limit int
		want  string
	}{
		{"", 2, "a todo=[v2 v4] done=[v1]; c todo=[v1] done=[]"},
		{"c", 2, "d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"},
		{"f", 2, ""},
		{"a", 1, "c todo=[v1] done=[]"},
		// afterKey need not be a key of the checkpoint.
		{"b", 1, "c todo=[v1] done=[]"},
		{"a ", 1, "c todo=[v1] done=[]"},
		{"zzz", 10, ""},
	}
	for _, tt := range tests {
		work, err := db.NextWork(ctx, planner.KeyCursor{Dest: testDest, Key: tt.after}, tt.limit)
		if err != nil {
			t.Fatalf("NextWork(%q, %d): %v", tt.after, tt.limit, err)
		}
		if got := workString(work); got != tt.want {
			t.Errorf("NextWork(%q, %d) = %q, want %q", tt.after, tt.limit, got, tt.want)
		}
	}

	// Paging through by key visits every key with work once.
	var keys []string
	after := ""
	for {
		work, err := db.NextWork(ctx, planner.KeyCursor{Dest: testDest, Key: after}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(work) == 0 {
			break
		}
		keys = append(keys, work[0].Key)
		after = work[len(work)-1].Key
	}
	if got := strings.Join(keys, " "); got != "a c d f" {
		t.Errorf("keys paged through = %q, want %q", got, "a c d f")
	}
}

func TestCountWork(t *testing.T) {
	ctx := context.Background()
	db := workFixture(t)
	rows, bytes, err := db.CountWork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantRows, wantBytes int64
	for _, v := range []string{"a@v2", "a@v4", "c@v1", "d@dm1", "f@v2"} {
		key, vid, _ := strings.Cut(v, "@")
		wantRows++
		wantBytes += rowByVersion(t, db, key, vid).Size
	}
	if rows != wantRows || bytes != wantBytes {
		t.Errorf("CountWork = %d rows, %d bytes; want %d rows, %d bytes", rows, bytes, wantRows, wantBytes)
	}

	empty := openTest(t)
	if rows, bytes, err := empty.CountWork(ctx); err != nil || rows != 0 || bytes != 0 {
		t.Errorf("CountWork of an empty checkpoint = %d, %d, %v", rows, bytes, err)
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	db := workFixture(t)
	before := allRows(t, db, false)

	claimed := ids(t, db, "a@v2", "a@v4", "c@v1")
	if err := db.Claim(ctx, claimed); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	isClaimed := map[int64]bool{}
	for _, id := range claimed {
		isClaimed[id] = true
	}
	for i, r := range allRows(t, db, false) {
		old := before[i]
		if !isClaimed[r.ID] {
			if r != old {
				t.Errorf("Claim changed a row it was not given:\nbefore %+v\nafter  %+v", old, r)
			}
			continue
		}
		if r.Status != planner.StatusCopying || r.Attempts != old.Attempts+1 || formatStamp(r.ClaimedAt) != stamp {
			t.Errorf("claimed %s@%s: status %q attempts %d claimed_at %q; want copying, %d, %q",
				r.Key, r.VersionID, r.Status, r.Attempts, r.ClaimedAt, old.Attempts+1, stamp)
		}
	}
	// a@v4 was claimed once before (its failed copy).
	if r := rowByVersion(t, db, "a", "v4"); r.Attempts != 2 {
		t.Errorf("a@v4 attempts = %d, want 2", r.Attempts)
	}

	// Claimed rows are still work, and now in doubt.
	work, err := db.NextWork(ctx, planner.KeyCursor{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := workString(work), "a todo=[v2 v4] done=[v1] in-doubt; c todo=[v1] done=[] in-doubt"; got != want {
		t.Errorf("NextWork after Claim = %q, want %q", got, want)
	}

	// A later claim counts another attempt and moves claimed_at.
	later := clock.Add(90 * time.Minute)
	db.now = func() time.Time { return later }
	if err := db.Claim(ctx, ids(t, db, "c@v1")); err != nil {
		t.Fatal(err)
	}
	if r := rowByVersion(t, db, "c", "v1"); r.Attempts != 2 || !r.ClaimedAt.Equal(later) {
		t.Errorf("c@v1 after a second claim: attempts %d claimed_at %q", r.Attempts, r.ClaimedAt)
	}

	if err := db.Claim(ctx, nil); err != nil {
		t.Errorf("Claim(nil) = %v", err)
	}
}

func TestRecorderOutcomes(t *testing.T) {
	ctx := context.Background()
	db := workFixture(t)
	work := ids(t, db, "a@v2", "a@v4", "c@v1", "d@dm1")
	if err := db.Claim(ctx, work); err != nil {
		t.Fatal(err)
	}
	aV2, aV4, cV1, dDM := work[0], work[1], work[2], work[3]

	rec := db
	for _, o := range []planner.Outcome{
		{Replica: planner.Replica{VersionID: "dst-a@v2", ETag: `"abc"`, ETagStatus: "match"}, TaskID: aV2, Status: planner.StatusSucceeded},
		{TaskID: aV4, Status: planner.StatusFailed, ErrorCode: "DstPutObjectNotPermitted", HTTPStatus: 403, Message: "copy a@v4: AccessDenied"},
	} {
		if err := rec.Record(o); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// Visible to a separate reader right after Flush.
	reader, err := OpenReader(ctx, db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	r := rowByVersion(t, reader, "a", "v2")
	if r.Status != planner.StatusSucceeded || r.Replica.VersionID != "dst-a@v2" || r.Replica.ETag != `"abc"` || r.Replica.ETagStatus != "match" ||
		r.ReplicaEncryption != "SSE-S3" || r.ErrorCode != "" || r.Attempts != 1 {
		t.Errorf("a@v2 after Flush = %+v", r)
	}
	r = rowByVersion(t, reader, "a", "v4")
	if r.Status != planner.StatusFailed || r.ErrorCode != "DstPutObjectNotPermitted" || r.HTTPStatus != 403 ||
		r.Message != "copy a@v4: AccessDenied" || r.Replica.VersionID != "" || r.Attempts != 2 {
		t.Errorf("a@v4 after Flush = %+v", r)
	}

	for _, o := range []planner.Outcome{
		// The copy learned the replica's encryption: it replaces the plan's.
		{Replica: planner.Replica{VersionID: "dst-c", ETagStatus: "differs-expected", Encryption: "SSE-KMS", KMSKeyID: "arn:dst"}, TaskID: cV1, Status: planner.StatusSucceeded},
		// Released unstarted (the run was interrupted).
		{TaskID: dDM, Status: planner.StatusPending},
	} {
		if err := rec.Record(o); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r = rowByVersion(t, reader, "c", "v1")
	if r.Status != planner.StatusSucceeded || r.ReplicaEncryption != "SSE-KMS" || r.ReplicaKMSKeyID != "arn:dst" || r.Replica.VersionID != "dst-c" {
		t.Errorf("c@v1 after Close = %+v", r)
	}
	r = rowByVersion(t, reader, "d", "dm1")
	if r.Status != planner.StatusPending || r.Replica.VersionID != "" || r.ErrorCode != "" {
		t.Errorf("released d@dm1 = %+v", r)
	}

	var finished []string
	rows, err := db.w.QueryContext(ctx, `SELECT key || '@' || version_id, finished_at FROM versions WHERE finished_at != '' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, at string
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if at != stamp {
			t.Errorf("%s finished_at = %q, want %q", v, at, stamp)
		}
		finished = append(finished, v)
	}
	if got, want := strings.Join(finished, " "), "a@v4 a@v2 a@v1 c@v1 d@dm1 f@v1"; got != want {
		t.Errorf("rows with an outcome = %q, want %q", got, want)
	}

	// Done and Todo follow the outcomes; the released row is work again,
	// no longer in doubt.
	wk, err := db.NextWork(ctx, planner.KeyCursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := "a todo=[v4] done=[v1 v2]; d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"
	if got := workString(wk); got != want {
		t.Errorf("NextWork after outcomes = %q\nwant %q", got, want)
	}
}

func TestRecorderManyOutcomes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	const n = 3*recordBatch + 17
	s, err := db.BeginScan(ctx, testDests)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Add(ctx, ver(fmt.Sprintf("k%04d", i), "v1", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, r := range allRows(t, db, false) {
		all = append(all, r.ID)
	}
	if err := db.Claim(ctx, all); err != nil {
		t.Fatal(err)
	}

	rec := db
	half := n / 2
	for _, id := range all[:half] {
		if err := rec.Record(planner.Outcome{Replica: planner.Replica{VersionID: fmt.Sprint("d", id)}, TaskID: id, Status: planner.StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := countStatus(t, db, planner.StatusSucceeded); got != half {
		t.Errorf("%d rows succeeded after Flush, want %d", got, half)
	}
	for _, id := range all[half:] {
		if err := rec.Record(planner.Outcome{TaskID: id, Status: planner.StatusFailed, ErrorCode: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	if s, f := countStatus(t, db, planner.StatusSucceeded), countStatus(t, db, planner.StatusFailed); s != half || f != n-half {
		t.Errorf("after Close: %d succeeded, %d failed; want %d, %d", s, f, half, n-half)
	}
	for _, r := range allRows(t, db, false) {
		if r.Status == planner.StatusSucceeded && r.Replica.VersionID != fmt.Sprint("d", r.ID) {
			t.Errorf("row %d: dest version %q, want %q", r.ID, r.Replica.VersionID, fmt.Sprint("d", r.ID))
		}
	}
}

func countStatus(t *testing.T, db *DB, status planner.Status) int {
	t.Helper()
	n := 0
	for _, r := range allRows(t, db, false) {
		if r.Status == status {
			n++
		}
	}
	return n
}

func TestRecorderCommitError(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	scanAll(t, db, listing{"k", []string{"v3", "v2", "v1"}})
	rows := ids(t, db, "k@v1", "k@v2", "k@v3")
	if err := db.Claim(ctx, rows); err != nil {
		t.Fatal(err)
	}
	rec := db
	if err := rec.Record(planner.Outcome{TaskID: rows[0], Status: planner.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Record(planner.Outcome{TaskID: rows[1], Status: "done"}); err != nil { // violates the status CHECK
		t.Fatalf("Record before the failed commit: %v", err)
	}
	ferr := rec.Flush()
	if ferr == nil {
		t.Fatal("Flush committed an invalid status")
	}
	if !strings.Contains(ferr.Error(), fmt.Sprintf("row %d", rows[1])) {
		t.Errorf("Flush error %q does not name row %d", ferr, rows[1])
	}
	if err := rec.Flush(); !errors.Is(err, ferr) {
		t.Errorf("Err() = %v, want %v", err, ferr)
	}
	// The run must stop: further outcomes are refused with the same error.
	if err := rec.Record(planner.Outcome{TaskID: rows[2], Status: planner.StatusSucceeded}); err == nil {
		t.Error("Record after a failed commit succeeded")
	}
	if err := rec.Flush(); err == nil {
		t.Error("Close after a failed commit returned nil")
	}
	// What was committed stays; the failed batch left its rows in doubt.
	if got, want := statuses(t, db), "k@v1=succeeded k@v2=copying k@v3=copying"; got != want {
		t.Errorf("statuses = %q, want %q", got, want)
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
	for _, r := range allRows(t, db, false) {
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
	if r := rowByVersion(t, reader, "k1", "v1"); r.Replica.VersionID != "after-cancel" {
		t.Errorf("k1@v1 dest version = %q, want after-cancel", r.Replica.VersionID)
	}
}
