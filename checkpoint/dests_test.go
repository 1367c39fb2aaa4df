package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// TestSeveralDestinations: a scan records each version once per
// destination; work, plans and reads keep the destinations apart.
func TestSeveralDestinations(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s, err := db.BeginScan(ctx, []string{"east", "west"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []planner.Version{
		{Key: "a", VersionID: "v2", Rank: 0, IsLatest: true, Size: 2, LastModified: t0.Add(time.Hour)},
		{Key: "a", VersionID: "v1", Rank: 1, Size: 1, LastModified: t0},
		{Key: "b", VersionID: "v1", Rank: 0, IsLatest: true, Size: 3, LastModified: t0},
	} {
		if err := s.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Finish(ctx)
	if err != nil || st.Seen != 3 || st.Added != 6 {
		t.Fatalf("Finish = %+v, %v; want 3 seen, 6 rows added", st, err)
	}
	var order []string
	if err := db.EachRow(ctx, "", func(r planner.Row) error {
		order = append(order, r.Dest+":"+r.Key+"@"+r.VersionID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(order, " "), "east:a@v1 east:a@v2 east:b@v1 west:a@v1 west:a@v2 west:b@v1"; got != want {
		t.Errorf("EachRow order = %q, want %q", got, want)
	}

	// planner.Plan everything; replicate a@v2 to east only.
	page, err := db.PlanPage(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var plans []planner.Plan
	byName := map[string]int64{}
	for _, r := range page {
		plans = append(plans, planner.Plan{TaskID: r.ID, Inspection: planner.Inspection{Inspected: true, Encryption: "NOT-SSE"}, Decision: planner.Decision{Action: "copy", DestKey: r.Key}, Status: planner.StatusPending})
		byName[r.Dest+":"+r.Key+"@"+r.VersionID] = r.ID
	}
	if err := db.SavePlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	rec := db
	if err := rec.Record(planner.Outcome{Replica: planner.Replica{VersionID: "e2"}, TaskID: byName["east:a@v2"], Status: planner.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	// a@v1 is behind a replicated version in east, not in west.
	page, err = db.PlanPage(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	newer := map[string]bool{}
	for _, r := range page {
		newer[r.Dest+":"+r.Key+"@"+r.VersionID] = r.NewerReplicated
	}
	if !newer["east:a@v1"] || newer["west:a@v1"] || newer["west:a@v2"] {
		t.Errorf("NewerReplicated = %v; want it for east:a@v1 only", newer)
	}

	// Work pages through (destination, key) pairs.
	var pairs []string
	var after planner.KeyCursor
	for {
		work, err := db.NextWork(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(work) == 0 {
			break
		}
		w := work[0]
		pairs = append(pairs, fmt.Sprintf("%s:%s todo=%d done=%d", w.Dest, w.Key, len(w.Tasks), len(w.Replicas)))
		after = planner.KeyCursor{Dest: w.Dest, Key: w.Key}
	}
	want := "east:a todo=1 done=1|east:b todo=1 done=0|west:a todo=2 done=0|west:b todo=1 done=0"
	if got := strings.Join(pairs, "|"); got != want {
		t.Errorf("work = %q, want %q", got, want)
	}
	counts, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 3 || counts[0].Dest != "east" || counts[2].Dest != "west" {
		t.Errorf("Counts = %+v, want east's two groups then west's", counts)
	}
}

// TestUploads: an upload and its parts survive a reopen, NextWork flags
// the row, and DropUpload forgets both.
func TestUploads(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	addAll(t, db, []planner.Version{{Key: "big", VersionID: "v1", IsLatest: true, Size: 12}})
	plan(t, db, "multipart", planner.StatusPending, "big@v1")
	id := ids(t, db, "big@v1")[0]
	u := planner.Upload{TaskID: id, UploadID: "u1", Bucket: "dst", Key: "big", Fingerprint: "fp", PartSizes: []int64{5, 5, 2}}
	if err := db.SaveUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, p := range []planner.Part{{Number: 1, ETag: `"e1"`}, {Number: 3, ETag: `"e3"`, Checksum: "crc"}} {
		if err := db.SavePart(ctx, "u1", p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LoadUpload(ctx, id)
	if err != nil || got == nil || got.UploadID != "u1" || fmt.Sprint(got.PartSizes) != "[5 5 2]" ||
		fmt.Sprint(got.Parts) != `[{1 "e1" } {3 "e3" crc}]` {
		t.Fatalf("LoadUpload = %+v, %v", got, err)
	}
	work, err := db.NextWork(ctx, planner.KeyCursor{}, 10)
	if err != nil || len(work) != 1 || !work[0].Tasks[0].HasUpload {
		t.Errorf("NextWork = %+v, %v; want the row flagged with its upload", work, err)
	}
	// A new upload for the row replaces the old one and its parts.
	if err := db.SaveUpload(ctx, planner.Upload{TaskID: id, UploadID: "u2", Bucket: "dst", Key: "big", Fingerprint: "fp2", PartSizes: []int64{12}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.LoadUpload(ctx, id); got.UploadID != "u2" || len(got.Parts) != 0 {
		t.Errorf("after a new upload: %+v", got)
	}
	if all, err := db.Uploads(ctx); err != nil || len(all) != 1 || all[0].UploadID != "u2" {
		t.Errorf("Uploads = %+v, %v", all, err)
	}
	if err := db.DropUpload(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.LoadUpload(ctx, id); got != nil || err != nil {
		t.Errorf("after DropUpload: %+v, %v", got, err)
	}
}
