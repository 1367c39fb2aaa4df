package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

func TestCounts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if c, err := db.Counts(ctx); err != nil || len(c) != 0 {
		t.Fatalf("Counts of an empty checkpoint = %v, %v", c, err)
	}
	addAll(t, db, []planner.Version{
		{Key: "k1", VersionID: "v2", Rank: 0, IsLatest: true, Size: 200},
		{Key: "k1", VersionID: "v1", Rank: 1, Size: 100},
		{Key: "k2", VersionID: "dm", Rank: 0, IsLatest: true, DeleteMarker: true},
		{Key: "k3", VersionID: "v1", Rank: 0, IsLatest: true, Size: 3},
		{Key: "k4", VersionID: "v1", Rank: 0, IsLatest: true, Size: 4000},
		{Key: "k5", VersionID: "v1", Rank: 0, IsLatest: true, Size: 50000},
		{Key: "k6", VersionID: "v1", Rank: 0, IsLatest: true, Size: 7},
	})
	id := func(v string) int64 { return ids(t, db, v)[0] }
	if err := db.SavePlans(ctx, []planner.Plan{
		{TaskID: id("k1@v1"), Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-KMS"}, Decision: planner.Decision{Action: "copy"}, Status: planner.StatusPending},
		{TaskID: id("k1@v2"), Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-KMS"}, Decision: planner.Decision{Action: "copy"}, Status: planner.StatusPending},
		{TaskID: id("k2@dm"), Inspection: planner.Inspection{Inspected: true}, Decision: planner.Decision{Action: "delete-marker"}, Status: planner.StatusPending},
		{TaskID: id("k4@v1"), Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-C"}, Decision: planner.Decision{Action: "fail", ErrorCode: "SrcSSECKeyNotFound"}, Status: planner.StatusFailed},
		{TaskID: id("k5@v1"), Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-KMS"}, Decision: planner.Decision{Action: "skip"}, Status: planner.StatusSkipped},
		// k3 and k6 stay unplanned.
	}); err != nil {
		t.Fatal(err)
	}
	record(t, db, planner.StatusSucceeded, "k1@v1")

	got, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []planner.Count{
		{Dest: testDest, Status: "failed", Action: "fail", Encryption: "SSE-C", Rows: 1, Bytes: 4000},
		{Dest: testDest, Status: "pending", Action: "", Encryption: "UNINSPECTED", Rows: 2, Bytes: 10},
		{Dest: testDest, Status: "pending", Action: "copy", Encryption: "SSE-KMS", Rows: 1, Bytes: 200},
		{Dest: testDest, Status: "pending", Action: "delete-marker", Encryption: "DELETE-MARKER", Rows: 1, Bytes: 0},
		{Dest: testDest, Status: "skipped", Action: "skip", Encryption: "SSE-KMS", Rows: 1, Bytes: 50000},
		{Dest: testDest, Status: "succeeded", Action: "copy", Encryption: "SSE-KMS", Rows: 1, Bytes: 100},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counts =\n%+v\nwant\n%+v", got, want)
	}
}

func TestEachRowFailedOnly(t *testing.T) {
	db := workFixture(t)
	var got []string
	for _, r := range allRows(t, db, true) {
		if r.Status != planner.StatusFailed {
			t.Errorf("failedOnly returned %s@%s with status %s", r.Key, r.VersionID, r.Status)
		}
		got = append(got, r.Key+"@"+r.VersionID)
	}
	if want := []string{"a@v4", "e@v1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failed rows = %v, want %v", got, want)
	}
	if n := len(allRows(t, db, false)); n != 12 {
		t.Errorf("all rows = %d, want 12", n)
	}
}

// TestEachRowPages checks EachRow across several pages, with versions of
// one key found by different scans, on all rows and on failed rows only.
func TestEachRowPages(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	const keys = 500
	listings := func(versions ...string) []listing {
		var ls []listing
		for i := range keys {
			ls = append(ls, listing{fmt.Sprintf("key/%04d", i), versions})
		}
		return ls
	}
	scanAll(t, db, listings("v3", "v2", "v1")...)
	scanAll(t, db, listings("v4", "v3", "v2", "v1")...) // exactly 2 pages of 1000

	check := func(failedOnly bool, perKey []string) {
		t.Helper()
		rows := allRows(t, db, failedOnly)
		if len(rows) != keys*len(perKey) {
			t.Fatalf("failedOnly=%v: %d rows, want %d", failedOnly, len(rows), keys*len(perKey))
		}
		for i, r := range rows {
			key, vid := fmt.Sprintf("key/%04d", i/len(perKey)), perKey[i%len(perKey)]
			if r.Key != key || r.VersionID != vid {
				t.Fatalf("failedOnly=%v: row %d is %s@%s, want %s@%s", failedOnly, i, r.Key, r.VersionID, key, vid)
			}
		}
	}
	check(false, []string{"v1", "v2", "v3", "v4"})

	// One more key: a partial last page.
	scanAll(t, db, append(listings("v4", "v3", "v2", "v1"), listing{"zzz", []string{"only"}})...)
	if rows := allRows(t, db, false); len(rows) != 4*keys+1 || rows[len(rows)-1].Key != "zzz" {
		t.Errorf("after adding a key: %d rows, last %+v", len(rows), rows[len(rows)-1])
	}

	// 1500 failed rows: failedOnly pages too.
	var plans []planner.Plan
	for _, r := range allRows(t, db, false) {
		if r.VersionID != "v4" && r.Key != "zzz" {
			plans = append(plans, planner.Plan{TaskID: r.ID, Decision: planner.Decision{Action: "copy"}, Status: planner.StatusFailed})
		}
	}
	if err := db.SavePlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	check(true, []string{"v1", "v2", "v3"})
}

func TestEachRowStopsOnError(t *testing.T) {
	ctx := context.Background()
	db := workFixture(t)
	stop := errors.New("stop")
	calls := 0
	err := db.EachRow(ctx, "", func(planner.Row) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("EachRow = %v after %d calls, want the callback's error after 3", err, calls)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.EachRow(cancelled, "", func(planner.Row) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("EachRow on a cancelled context = %v, want context.Canceled", err)
	}
}
