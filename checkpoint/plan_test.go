package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// pageString renders PlanPage rows as "key@vid" (with "+newer" when a
// newer version is replicated).
func pageString(page []planner.Row) string {
	var parts []string
	for _, p := range page {
		s := p.Key + "@" + p.VersionID
		if p.NewerReplicated {
			s += "+newer"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// planAll reads every PlanPage, limit rows at a time.
func planAll(t *testing.T, db *DB, limit int) []planner.Row {
	t.Helper()
	var all []planner.Row
	var after int64
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("PlanPage does not end")
		}
		page, err := db.PlanPage(context.Background(), after, limit)
		if err != nil {
			t.Fatalf("PlanPage: %v", err)
		}
		if len(page) > limit {
			t.Fatalf("PlanPage returned %d rows, limit %d", len(page), limit)
		}
		if len(page) == 0 {
			return all
		}
		for _, p := range page {
			if p.ID <= after {
				t.Fatalf("PlanPage after %d returned row %d", after, p.ID)
			}
			after = p.ID
		}
		all = append(all, page...)
	}
}

func TestPlanPageReturnsRowsNotDone(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	// Insertion order, and so id order: a@v5, a@v4, a@v3, a@v2, a@v1, b@v1, c@v1.
	scanAll(t, db, listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}})
	plan(t, db, "copy", planner.StatusPending, "a@v4", "a@v5", "c@v1")
	plan(t, db, "fail", planner.StatusFailed, "a@v2")
	plan(t, db, "skip", planner.StatusSkipped, "a@v3")
	if err := db.Claim(ctx, ids(t, db, "a@v4")); err != nil { // copying
		t.Fatal(err)
	}
	record(t, db, planner.StatusSucceeded, "a@v5")
	record(t, db, planner.StatusFailed, "c@v1") // a copy that failed
	// a@v1 and b@v1 are unplanned.

	want := "a@v3+newer a@v2+newer a@v1+newer b@v1 c@v1"
	for _, limit := range []int{1, 2, 3, 100} {
		if got := pageString(planAll(t, db, limit)); got != want {
			t.Errorf("PlanPage by %d = %q, want %q", limit, got, want)
		}
	}
	n, err := db.CountToPlan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("CountToPlan = %d, want 5", n)
	}
	if page, err := db.PlanPage(ctx, 0, 0); err != nil || len(page) != 0 {
		t.Errorf("PlanPage with limit 0 = %v, %v", page, err)
	}
	last := rowByVersion(t, db, "c", "v1").ID
	if page, err := db.PlanPage(ctx, last, 10); err != nil || len(page) != 0 {
		t.Errorf("PlanPage after the last row = %v, %v", pageString(page), err)
	}

	// Rows carry what was planned and recorded before.
	for _, p := range planAll(t, db, 100) {
		if p.Key == "a" && p.VersionID == "v2" && (p.Action != "fail" || p.Status != planner.StatusFailed || !p.Inspected || p.Encryption != "SSE-S3") {
			t.Errorf("a@v2 in PlanPage = %+v, want its failed plan", p)
		}
	}
}

func TestPlanPageNewerReplicated(t *testing.T) {
	db := openTest(t)
	scanAll(t, db,
		listing{"a", []string{"v3", "v2", "v1"}},
		listing{"a/x", []string{"v1"}},
		listing{"b", []string{"v2", "v1"}},
		listing{"c", []string{"v1"}},
		listing{"d", []string{"v2", "v1"}},
		listing{"e", []string{"v2", "v1"}},
	)
	// Later scan: a@v4 and c@v2 are new.
	scanAll(t, db,
		listing{"a", []string{"v4", "v3", "v2", "v1"}},
		listing{"a/x", []string{"v1"}},
		listing{"b", []string{"v2", "v1"}},
		listing{"c", []string{"v2", "v1"}},
		listing{"d", []string{"v2", "v1"}},
		listing{"e", []string{"v2", "v1"}},
	)
	plan(t, db, "copy", planner.StatusPending, "a@v1", "a@v2", "a@v3", "a@v4", "a/x@v1", "b@v1", "b@v2", "c@v1", "c@v2", "d@v1", "d@v2", "e@v1", "e@v2")
	plan(t, db, "skip", planner.StatusSkipped, "a@v1")
	record(t, db, planner.StatusSucceeded, "a@v3") // newer than a@v1, a@v2 (same scan), older than a@v4
	record(t, db, planner.StatusSucceeded, "b@v1") // older than b@v2 only
	record(t, db, planner.StatusSucceeded, "c@v2") // found by the later scan, newer than c@v1
	if err := db.Claim(context.Background(), ids(t, db, "d@v2")); err != nil {
		t.Fatal(err) // in doubt, not known to be replicated
	}
	record(t, db, planner.StatusFailed, "e@v2")

	got := map[string]bool{}
	for _, p := range planAll(t, db, 4) {
		got[p.Key+"@"+p.VersionID] = p.NewerReplicated
	}
	want := map[string]bool{
		"a@v1": true, "a@v2": true, "a@v4": false,
		"a/x@v1": false,
		"b@v2":   false,
		"c@v1":   true,
		"d@v1":   false,
		"e@v1":   false, "e@v2": false,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("NewerReplicated by row:\n got %v\nwant %v", got, want)
	}
}

func TestSavePlans(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	scanAll(t, db, listing{"k", []string{"v3", "v2", "v1"}})
	v1, v2, v3 := rowByVersion(t, db, "k", "v1").ID, rowByVersion(t, db, "k", "v2").ID, rowByVersion(t, db, "k", "v3").ID
	if err := db.Claim(ctx, []int64{v3}); err != nil {
		t.Fatal(err)
	}
	plans := []planner.Plan{
		{TaskID: v1, Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-C", SSECKeyID: "old"}, Decision: planner.Decision{Action: "multipart", DestKey: "dst/k", ReplicaEncryption: "SSE-C", ReplicaSSECKeyID: "new"}, Status: planner.StatusPending},
		{TaskID: v2, Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-KMS", KMSKeyID: "arn:src"},
			Decision: planner.Decision{Action: "fail", DestKey: "dst/k", ErrorCode: "SrcHeadObjectNotPermitted", Reason: "HEAD: forbidden"}, Status: planner.StatusFailed, HTTPStatus: 403},
		// Claimed by a run: its plan stays until the copy settles it.
		{TaskID: v3, Inspection: planner.Inspection{Inspected: true, Encryption: "NOT-SSE"}, Decision: planner.Decision{Action: "skip", Reason: "nope"}, Status: planner.StatusSkipped},
		// A row that does not exist is no error.
		{TaskID: 9999, Decision: planner.Decision{Action: "copy"}, Status: planner.StatusPending},
	}
	if err := db.SavePlans(ctx, plans); err != nil {
		t.Fatalf("SavePlans: %v", err)
	}
	r1, r2, r3 := rowByVersion(t, db, "k", "v1"), rowByVersion(t, db, "k", "v2"), rowByVersion(t, db, "k", "v3")
	if !r1.Inspected || r1.Encryption != "SSE-C" || r1.SSECKeyID != "old" || r1.Action != "multipart" || r1.DestKey != "dst/k" ||
		r1.ReplicaEncryption != "SSE-C" || r1.ReplicaSSECKeyID != "new" || r1.Status != planner.StatusPending {
		t.Errorf("k@v1 = %+v", r1)
	}
	if r2.Encryption != "SSE-KMS" || r2.KMSKeyID != "arn:src" || r2.Action != "fail" || r2.Status != planner.StatusFailed ||
		r2.ErrorCode != "SrcHeadObjectNotPermitted" || r2.HTTPStatus != 403 || r2.Message != "HEAD: forbidden" {
		t.Errorf("k@v2 = %+v", r2)
	}
	if r3.Status != planner.StatusCopying || r3.Action != "" || r3.Inspected || r3.Message != "" {
		t.Errorf("claimed k@v3 was replanned: %+v", r3)
	}

	// Replanning replaces the whole plan, errors included.
	if err := db.SavePlans(ctx, []planner.Plan{{TaskID: v2, Inspection: planner.Inspection{Inspected: true, Encryption: "SSE-KMS", KMSKeyID: "arn:src"}, Decision: planner.Decision{Action: "copy", DestKey: "dst/k", ReplicaEncryption: "SSE-KMS", ReplicaKMSKeyID: "arn:dst"}, Status: planner.StatusPending}}); err != nil {
		t.Fatal(err)
	}
	if r := rowByVersion(t, db, "k", "v2"); r.Action != "copy" || r.Status != planner.StatusPending || r.ErrorCode != "" || r.HTTPStatus != 0 ||
		r.Message != "" || r.ReplicaKMSKeyID != "arn:dst" {
		t.Errorf("replanned k@v2 = %+v", r)
	}

	if err := db.SavePlans(ctx, nil); err != nil {
		t.Errorf("SavePlans(nil) = %v", err)
	}
}

func TestSavePlansIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	scanAll(t, db, listing{"k", []string{"v2", "v1"}})
	v1, v2 := rowByVersion(t, db, "k", "v1").ID, rowByVersion(t, db, "k", "v2").ID
	err := db.SavePlans(ctx, []planner.Plan{
		{TaskID: v1, Decision: planner.Decision{Action: "copy"}, Status: planner.StatusSkipped},
		{TaskID: v2, Decision: planner.Decision{Action: "copy"}, Status: "bogus"}, // violates the status CHECK
	})
	if err == nil {
		t.Fatal("SavePlans accepted an invalid status")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("row %d", v2)) {
		t.Errorf("error %q does not name row %d", err, v2)
	}
	if got := statuses(t, db); got != "k@v1=pending k@v2=pending" {
		t.Errorf("statuses after a failed SavePlans = %q, want nothing saved", got)
	}
}
