package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var planPromises = []promise{
	{"PlanPage pages by id over the pending, failed and skipped rows, CountToPlan counts them", planPages},
	{"PlanPage fills NewerReplicated", planNewer},
	{"PlanPage puts the rows of one version next to each other", planAdjacent},
	{"SavePlans stores every field, the decision's error code and reason as the row's", savePlansFields},
	{"SavePlans leaves a task claimed by a copy run alone, copying or copied", savePlansClaimed},
	{"SavePlans replaces the whole plan, errors included", savePlansReplace},
	{"SavePlans saves all or none", savePlansAtomic},
}

// planAll reads every PlanPage, limit rows at a time, checking the paging.
func (h *harness) planAll(limit int) []planner.Row {
	h.t.Helper()
	var all []planner.Row
	var after int64
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatal("PlanPage does not end")
		}
		page, err := h.s.PlanPage(h.ctx, after, limit)
		if err != nil {
			h.t.Fatalf("PlanPage: %v", err)
		}
		if len(page) > limit {
			h.t.Fatalf("PlanPage returned %d rows, limit %d", len(page), limit)
		}
		if len(page) == 0 {
			return all
		}
		for _, p := range page {
			if p.ID <= after {
				h.t.Fatalf("PlanPage after %d returned row %d", after, p.ID)
			}
			after = p.ID
		}
		all = append(all, page...)
	}
}

// pageString renders rows as "key@vid", "+newer" when a newer version is
// replicated.
func pageString(page []planner.Row) string {
	var parts []string
	for _, p := range page {
		s := p.Key + "@" + p.VersionID
		if p.Dest != dest {
			s = p.Dest + ":" + s
		}
		if p.NewerReplicated {
			s += "+newer"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func planPages(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v4", "a@v5", "c@v1")
	h.plan(planner.Fail, planner.StatusFailed, "a@v2")
	h.plan(planner.Skip, planner.StatusSkipped, "a@v3")
	h.claim("a@v4") // copying
	h.record(planner.StatusSucceeded, "a@v5")
	h.record(planner.StatusFailed, "c@v1") // a copy that failed
	// a@v1 and b@v1 are unplanned.

	// By id, whatever order the backend gives ids in.
	var want []planner.Row
	for _, r := range h.rows("") {
		switch r.Key + "@" + r.VersionID {
		case "a@v1", "a@v2", "a@v3", "b@v1", "c@v1":
			r.NewerReplicated = r.Key == "a"
			want = append(want, r)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	for _, limit := range []int{1, 2, 3, 100} {
		got := h.planAll(limit)
		if pageString(got) != pageString(want) {
			t.Errorf("PlanPage by %d = %q, want %q", limit, pageString(got), pageString(want))
			continue
		}
		// Rows carry what was planned and recorded before.
		sameRows(t, fmt.Sprintf("PlanPage by %d", limit), got, want)
	}
	if n, err := h.s.CountToPlan(h.ctx); err != nil || n != 5 {
		t.Errorf("CountToPlan = %d, %v; want 5", n, err)
	}
	if page, err := h.s.PlanPage(h.ctx, 0, 0); err != nil || len(page) != 0 {
		t.Errorf("PlanPage with limit 0 = %v, %v", pageString(page), err)
	}
	last := want[len(want)-1].ID
	if page, err := h.s.PlanPage(h.ctx, last, 10); err != nil || len(page) != 0 {
		t.Errorf("PlanPage after the last row = %v, %v", pageString(page), err)
	}
	if page, err := h.s.PlanPage(h.ctx, want[1].ID, 2); err != nil || pageString(page) != pageString(want[2:4]) {
		t.Errorf("PlanPage after the second row = %v, %v; want %v", pageString(page), err, pageString(want[2:4]))
	}
	empty := h.fresh(t)
	if n, err := empty.s.CountToPlan(h.ctx); err != nil || n != 0 {
		t.Errorf("CountToPlan of a new store = %d, %v", n, err)
	}
}

func planNewer(t *testing.T, h *harness) {
	first := []listing{{"a", []string{"v3", "v2", "v1"}}, {"a/x", []string{"v1"}}, {"b", []string{"v2", "v1"}},
		{"c", []string{"v1"}}, {"d", []string{"v2", "v1"}}, {"e", []string{"v2", "v1"}}}
	h.scan(first...)
	// A later scan: a@v4 and c@v2 are new.
	second := append([]listing(nil), first...)
	second[0] = listing{"a", []string{"v4", "v3", "v2", "v1"}}
	second[3] = listing{"c", []string{"v2", "v1"}}
	h.scan(second...)
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "a@v3", "a@v4", "a/x@v1", "b@v1", "b@v2", "c@v1", "c@v2", "d@v1", "d@v2", "e@v1", "e@v2")
	h.plan(planner.Skip, planner.StatusSkipped, "a@v1")
	h.record(planner.StatusSucceeded, "a@v3") // newer than a@v1, a@v2 (same scan), older than a@v4
	h.record(planner.StatusSucceeded, "b@v1") // older than b@v2 only
	h.record(planner.StatusSucceeded, "c@v2") // found by the later scan, newer than c@v1
	h.claim("d@v2")                           // in doubt, not known to be replicated
	h.record(planner.StatusFailed, "e@v2")

	got := map[string]bool{}
	for _, p := range h.planAll(4) {
		got[p.Key+"@"+p.VersionID] = p.NewerReplicated
	}
	want := map[string]bool{"a@v1": true, "a@v2": true, "a@v4": false, "a/x@v1": false, "b@v2": false,
		"c@v1": true, "d@v1": false, "e@v1": false, "e@v2": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("NewerReplicated by row:\n got %v\nwant %v", got, want)
	}

	// Per destination: a version replicated to east holds back only
	// east's older rows.
	h2 := h.fresh(t)
	h2.scanVersions([]string{"east", "west"}, versions(listing{"a", []string{"v2", "v1"}}))
	id := h2.rowIn("east", "a", "v2").ID
	if err := h2.s.Claim(h.ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	if err := h2.s.Record(planner.Outcome{TaskID: id, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "e2"}}); err != nil {
		t.Fatal(err)
	}
	if err := h2.s.Flush(); err != nil {
		t.Fatal(err)
	}
	byDest := map[string]bool{}
	for _, p := range h2.planAll(100) {
		byDest[p.Dest+":"+p.Key+"@"+p.VersionID] = p.NewerReplicated
	}
	if want := "map[east:a@v1:true west:a@v1:false west:a@v2:false]"; fmt.Sprint(byDest) != want {
		t.Errorf("NewerReplicated with two destinations = %v, want %s", byDest, want)
	}
}

func planAdjacent(t *testing.T, h *harness) {
	dests := []string{"d1", "d2", "d3"}
	h.scanVersions(dests, versions(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}}))
	h.scanVersions(dests, versions(listing{"a", []string{"v3", "v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}}))
	// One of a@v2's rows is done: the other two stay together.
	id := h.rowIn("d2", "a", "v2").ID
	if err := h.s.SavePlans(h.ctx, []planner.Plan{{TaskID: id, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusPending}}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Claim(h.ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 5, 100} {
		seen := map[string]bool{}
		last := ""
		n := 0
		for _, r := range h.planAll(limit) {
			v := r.Key + "@" + r.VersionID
			if v != last && seen[v] {
				t.Errorf("PlanPage by %d: the rows of %s are not next to each other", limit, v)
			}
			seen[v], last = true, v
			n++
		}
		if n != 14 {
			t.Errorf("PlanPage by %d: %d rows, want 14", limit, n)
		}
	}
}

func savePlansFields(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v4", "v3", "v2", "v1"}})
	ids := h.ids("k@v1", "k@v2", "k@v3", "k@v4")
	before := map[string]planner.Row{}
	for _, r := range h.rows("") {
		before[r.VersionID] = norm(r)
	}
	d := fullDecision
	d.ErrorCode, d.Reason = "SrcHeadObjectNotPermitted", "HEAD: forbidden"
	plans := []planner.Plan{
		{TaskID: ids[0], Inspection: fullInspection, Decision: d, Status: planner.StatusFailed, HTTPStatus: 403},
		{TaskID: ids[1], Inspection: fullInspection, Decision: fullDecision, Status: planner.StatusPending},
		{TaskID: ids[2], Inspection: planner.Inspection{Inspected: true, Encryption: planner.NotSSE},
			Decision: planner.Decision{Action: planner.Skip, DestKey: "backup/k", Reason: "KMS replication not enabled"}, Status: planner.StatusSkipped},
	}
	if err := h.s.SavePlans(h.ctx, plans); err != nil {
		t.Fatalf("SavePlans: %v", err)
	}
	for i, p := range plans {
		r := h.row("k", fmt.Sprintf("v%d", i+1))
		want := r
		want.Inspection = p.Inspection
		want.Decision = p.Decision
		want.Decision.ErrorCode, want.Decision.Reason = "", ""
		want.ErrorCode, want.Message, want.HTTPStatus, want.Status = p.ErrorCode, p.Reason, p.HTTPStatus, p.Status
		if r.Inspection != p.Inspection || r.Decision != want.Decision || r.ErrorCode != want.ErrorCode ||
			r.Message != want.Message || r.HTTPStatus != want.HTTPStatus || r.Status != want.Status {
			t.Errorf("k@v%d after SavePlans\n got %+v\nwant %+v", i+1, r, want)
		}
		b := before[r.VersionID]
		b.Inspection, b.Decision, b.Status, b.ErrorCode, b.Message, b.HTTPStatus = r.Inspection, r.Decision, r.Status, r.ErrorCode, r.Message, r.HTTPStatus
		if norm(r) != b {
			t.Errorf("k@v%d: SavePlans changed more than the plan:\n got %+v\nwant %+v", i+1, norm(r), b)
		}
	}
	if r := h.row("k", "v4"); norm(r) != before["v4"] {
		t.Errorf("SavePlans changed a row it was not given:\nbefore %+v\nafter  %+v", before["v4"], r)
	}
	if err := h.s.SavePlans(h.ctx, nil); err != nil {
		t.Errorf("SavePlans(nil) = %v", err)
	}
	// Each action and status round-trips.
	for _, a := range []planner.Action{planner.Copy, planner.Multipart, planner.ReplayDelete, planner.Skip, planner.Fail} {
		for _, s := range []planner.Status{planner.StatusPending, planner.StatusFailed, planner.StatusSkipped} {
			if err := h.s.SavePlans(h.ctx, []planner.Plan{{TaskID: ids[3], Decision: planner.Decision{Action: a}, Status: s}}); err != nil {
				t.Fatalf("SavePlans %s %s: %v", a, s, err)
			}
			if r := h.row("k", "v4"); r.Action != a || r.Status != s {
				t.Errorf("plan %s %s reads back as %s %s", a, s, r.Action, r.Status)
			}
		}
	}
}

func savePlansClaimed(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v3", "v2", "v1"}})
	h.plan(planner.Copy, planner.StatusPending, "k@v1", "k@v2", "k@v3")
	// The plan phase read every task; then a copy run claimed v2, and
	// claimed and copied v3.
	if page := h.planAll(10); len(page) != 3 {
		t.Fatalf("PlanPage = %q, want the 3 tasks", pageString(page))
	}
	h.claim("k@v2")
	h.record(planner.StatusSucceeded, "k@v3")
	claimed, copied := h.row("k", "v2"), h.row("k", "v3")
	ids := h.ids("k@v1", "k@v2", "k@v3")
	skip := planner.Decision{Action: planner.Skip, Reason: "nope"}
	err := h.s.SavePlans(h.ctx, []planner.Plan{
		{TaskID: ids[0], Inspection: fullInspection, Decision: skip, Status: planner.StatusSkipped},
		{TaskID: ids[1], Inspection: fullInspection, Decision: skip, Status: planner.StatusSkipped},
		{TaskID: ids[2], Inspection: fullInspection, Decision: skip, Status: planner.StatusSkipped},
		{TaskID: ids[0] + ids[1] + ids[2] + 1000, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusPending}, // no such task
	})
	if err != nil {
		t.Fatalf("SavePlans with claimed tasks = %v, want them skipped", err)
	}
	if r := h.row("k", "v2"); norm(r) != norm(claimed) {
		t.Errorf("the claimed task was replanned:\nbefore %+v\nafter  %+v", claimed, r)
	}
	if r := h.row("k", "v3"); norm(r) != norm(copied) {
		t.Errorf("the task claimed and copied was replanned:\nbefore %+v\nafter  %+v", copied, r)
	}
	if r := h.row("k", "v1"); r.Status != planner.StatusSkipped || r.Action != planner.Skip || r.Message != "nope" {
		t.Errorf("the task beside it = %+v, want its plan saved", r)
	}
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "k todo=[v2] done=[v3] in-doubt"; got != want {
		t.Errorf("NextWork = %q, want %q", got, want)
	}
}

func savePlansReplace(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v1"}})
	id := h.ids("k@v1")[0]
	d := fullDecision
	d.Action, d.ErrorCode, d.Reason = planner.Fail, "SrcSSECKeyNotFound", "no key"
	if err := h.s.SavePlans(h.ctx, []planner.Plan{{TaskID: id, Inspection: fullInspection, Decision: d, Status: planner.StatusFailed, HTTPStatus: 400}}); err != nil {
		t.Fatal(err)
	}
	p := planner.Plan{TaskID: id, Inspection: planner.Inspection{Inspected: true, Encryption: planner.SSES3},
		Decision: planner.Decision{Action: planner.Copy, DestKey: "k"}, Status: planner.StatusPending}
	if err := h.s.SavePlans(h.ctx, []planner.Plan{p}); err != nil {
		t.Fatal(err)
	}
	r := h.row("k", "v1")
	if r.Inspection != p.Inspection || r.Decision != p.Decision || r.Status != planner.StatusPending ||
		r.ErrorCode != "" || r.HTTPStatus != 0 || r.Message != "" {
		t.Errorf("replanned row = %+v, want exactly the new plan", r)
	}
}

func savePlansAtomic(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v2", "v1"}})
	ids := h.ids("k@v1", "k@v2")
	for _, bad := range []planner.Plan{
		{TaskID: ids[1], Decision: planner.Decision{Action: planner.Copy}, Status: "bogus"},
		{TaskID: ids[1], Decision: planner.Decision{Action: "bogus"}, Status: planner.StatusPending},
	} {
		err := h.s.SavePlans(h.ctx, []planner.Plan{
			{TaskID: ids[0], Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusSkipped}, bad})
		if err == nil {
			t.Errorf("SavePlans accepted %+v", bad)
		}
		if got := h.statuses(); got != "k@v1=pending k@v2=pending" {
			t.Errorf("statuses after a failed SavePlans = %q, want nothing saved", got)
		}
		if r := h.row("k", "v1"); r.Action != "" {
			t.Errorf("k@v1 planned %q by a failed SavePlans", r.Action)
		}
	}
}
