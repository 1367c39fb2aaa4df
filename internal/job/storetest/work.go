package storetest

import (
	"fmt"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var workPromises = []promise{
	{"CountWork counts the tasks and bytes with a copy to do", countWork},
	{"NextWork hands out only copy, multipart and delete-marker tasks that are pending, copying or failed", nextWorkWhat},
	{"NextWork pages by destination and key after the cursor, up to limit", nextWorkPages},
	{"NextWork lists a key's tasks oldest first, the order to claim them in", nextWorkOrder},
	{"NextWork lists the replicas of succeeded versions, oldest first", nextWorkReplicas},
	{"Claim marks tasks copying: in doubt, ClaimedAt set, one more attempt", claimMarks},
}

// workFixture fills the store with every kind of row:
//
//	a: v1 succeeded, v2 pending copy, v3 skipped, v4 failed copy, v5 unplanned
//	b: v1 skipped
//	c: v1 pending multipart
//	d: dm1 pending delete-marker
//	e: v1 failed by the planner (action fail)
//	f: v1 succeeded, v2 claimed by a run that stopped (copying)
//	g: v1 unplanned
func (h *harness) workFixture() {
	h.t.Helper()
	h.scan(listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}},
		listing{"d", []string{"dm1"}}, listing{"e", []string{"v1"}}, listing{"f", []string{"v2", "v1"}}, listing{"g", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "a@v4", "f@v1", "f@v2")
	h.plan(planner.Skip, planner.StatusSkipped, "a@v3", "b@v1")
	h.plan(planner.Multipart, planner.StatusPending, "c@v1")
	h.plan(planner.ReplayDelete, planner.StatusPending, "d@dm1")
	h.plan(planner.Fail, planner.StatusFailed, "e@v1")
	h.record(planner.StatusSucceeded, "a@v1", "f@v1")
	h.record(planner.StatusFailed, "a@v4")
	h.claim("f@v2")
}

// allWork is NextWork's answer for workFixture.
const allWork = "a todo=[v2 v4] done=[v1]; c todo=[v1] done=[]; d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"

func countWork(t *testing.T, h *harness) {
	if n, b, err := h.s.CountWork(h.ctx); err != nil || n != 0 || b != 0 {
		t.Errorf("CountWork of a new store = %d, %d, %v", n, b, err)
	}
	h.workFixture()
	n, b, err := h.s.CountWork(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantN, wantB int64
	for _, v := range []string{"a@v2", "a@v4", "c@v1", "d@dm1", "f@v2"} {
		key, vid := split(t, v)
		wantN++
		wantB += h.row(key, vid).Size
	}
	if n != wantN || b != wantB {
		t.Errorf("CountWork = %d tasks, %d bytes; want %d, %d", n, b, wantN, wantB)
	}
}

func nextWorkWhat(t *testing.T, h *harness) {
	if work := h.nextWork(planner.KeyCursor{}, 10); len(work) != 0 {
		t.Errorf("NextWork of a new store = %q", workString(work))
	}
	h.workFixture()
	work := h.nextWork(planner.KeyCursor{}, 100)
	if got := workString(work); got != allWork {
		t.Errorf("NextWork = %q\nwant %q", got, allWork)
	}
	// Each task is its row as the store keeps it.
	for _, w := range work {
		if w.Dest != dest || w.DestKey != "dst/"+w.Key {
			t.Errorf("work on %s: dest %q, dest key %q", w.Key, w.Dest, w.DestKey)
		}
		for _, task := range w.Tasks {
			r := h.row(task.Key, task.VersionID)
			if norm(planner.Row{Task: task}).Task != norm(planner.Row{Task: r.Task}).Task {
				t.Errorf("task in NextWork\n got %+v\nwant %+v", task, r.Task)
			}
		}
	}
}

func nextWorkPages(t *testing.T, h *harness) {
	h.workFixture()
	tests := []struct {
		after string
		limit int
		want  string
	}{
		{"", 2, "a todo=[v2 v4] done=[v1]; c todo=[v1] done=[]"},
		{"c", 2, "d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"},
		{"f", 2, ""},
		{"a", 1, "c todo=[v1] done=[]"},
		// The cursor's key need not be a key of the store.
		{"b", 1, "c todo=[v1] done=[]"},
		{"a ", 1, "c todo=[v1] done=[]"},
		{"zzz", 10, ""},
	}
	for _, tt := range tests {
		if got := workString(h.nextWork(planner.KeyCursor{Dest: dest, Key: tt.after}, tt.limit)); got != tt.want {
			t.Errorf("NextWork(after %q, %d) = %q, want %q", tt.after, tt.limit, got, tt.want)
		}
	}
	if got := workString(h.nextWork(planner.KeyCursor{Dest: "zzz"}, 10)); got != "" {
		t.Errorf("NextWork after the last destination = %q", got)
	}
	// Paging one at a time visits every key with work once.
	for _, limit := range []int{1, 3} {
		if got := workString(h.pageWork(limit)); got != allWork {
			t.Errorf("NextWork paged by %d = %q, want %q", limit, got, allWork)
		}
	}

	// Several destinations: (destination, key) pairs in order.
	h2 := h.fresh(t)
	h2.scanVersions([]string{"west", "east"}, versions(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}}))
	var plans []planner.Plan
	for _, r := range h2.rows("") {
		plans = append(plans, planner.Plan{TaskID: r.ID, Decision: planner.Decision{Action: planner.Copy, DestKey: r.Key}, Status: planner.StatusPending})
	}
	if err := h2.s.SavePlans(h.ctx, plans); err != nil {
		t.Fatal(err)
	}
	id := h2.rowIn("east", "a", "v1").ID
	if err := h2.s.Claim(h.ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	if err := h2.s.Record(planner.Outcome{TaskID: id, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "e1"}}); err != nil {
		t.Fatal(err)
	}
	if err := h2.s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 3, 10} {
		want := "east:a todo=[v2] done=[e1]; east:b todo=[v1] done=[]; west:a todo=[v1 v2] done=[]; west:b todo=[v1] done=[]"
		if got := workString(h2.pageWork(limit)); got != want {
			t.Errorf("work by %d = %q, want %q", limit, got, want)
		}
	}
	if got, want := workString(h2.nextWork(planner.KeyCursor{Dest: "east", Key: "b"}, 1)), "west:a todo=[v1 v2] done=[]"; got != want {
		t.Errorf("NextWork after east:b = %q, want %q", got, want)
	}
}

// pageWork pages through NextWork, limit keys at a time, as the executor
// does, checking that each answer goes on after the cursor.
func (h *harness) pageWork(limit int) []planner.KeyWork {
	h.t.Helper()
	var all []planner.KeyWork
	var after planner.KeyCursor
	for i := 0; ; i++ {
		if i > 1000 {
			h.t.Fatal("NextWork does not end")
		}
		work := h.nextWork(after, limit)
		if len(work) > limit {
			h.t.Fatalf("NextWork returned %d keys, limit %d", len(work), limit)
		}
		if len(work) == 0 {
			return all
		}
		for _, w := range work {
			c := planner.KeyCursor{Dest: w.Dest, Key: w.Key}
			if c.Dest < after.Dest || c.Dest == after.Dest && c.Key <= after.Key {
				h.t.Fatalf("NextWork after %+v returned %+v", after, c)
			}
			after = c
		}
		all = append(all, work...)
	}
}

func nextWorkOrder(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v3", "v2", "v1"}}, listing{"b", []string{"v1"}})
	h.scan(listing{"a", []string{"v6", "v5", "v4", "v3", "v2", "v1"}}, listing{"b", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v6", "a@v1", "a@v4", "a@v3", "a@v5", "a@v2", "b@v1")
	h.record(planner.StatusFailed, "a@v4")
	h.claim("a@v5")
	work := h.nextWork(planner.KeyCursor{}, 1)
	if got, want := workString(work), "a todo=[v1 v2 v3 v4 v5 v6] done=[] in-doubt"; got != want {
		t.Errorf("NextWork = %q, want %q", got, want)
	}
	if len(work) == 1 {
		for _, task := range work[0].Tasks {
			if task.InDoubt() != (task.VersionID == "v5") {
				t.Errorf("a@%s: InDoubt() = %v", task.VersionID, task.InDoubt())
			}
		}
	}
}

func nextWorkReplicas(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"dm5", "v4", "v3", "v2", "v1"}}, listing{"b", []string{"v2", "v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "a@v3", "a@v4", "b@v1", "b@v2")
	h.plan(planner.ReplayDelete, planner.StatusPending, "a@dm5")
	// Recorded newest first: the replicas still come oldest first.
	h.record(planner.StatusSucceeded, "a@dm5")
	h.record(planner.StatusSucceeded, "a@v3")
	h.record(planner.StatusSucceeded, "a@v1")
	h.record(planner.StatusSucceeded, "b@v1", "b@v2")
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "a todo=[v2 v4] done=[v1 v3 dm5]"; got != want {
		t.Errorf("NextWork = %q, want %q (b has nothing to do)", got, want)
	}
	h.record(planner.StatusSucceeded, "a@v2", "a@v4")
	if work := h.nextWork(planner.KeyCursor{}, 10); len(work) != 0 {
		t.Errorf("NextWork when all is copied = %q", workString(work))
	}
	if n, b, err := h.s.CountWork(h.ctx); err != nil || n != 0 || b != 0 {
		t.Errorf("CountWork when all is copied = %d, %d, %v", n, b, err)
	}
}

func claimMarks(t *testing.T, h *harness) {
	h.workFixture()
	before := map[int64]planner.Row{}
	for _, r := range h.rows("") {
		before[r.ID] = norm(r)
	}
	clk := startClock()
	claimed := h.ids("a@v2", "a@v4", "c@v1")
	if err := h.s.Claim(h.ctx, claimed); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	isClaimed := map[int64]bool{}
	for _, id := range claimed {
		isClaimed[id] = true
	}
	for _, r := range h.rows("") {
		old := before[r.ID]
		if !isClaimed[r.ID] {
			if norm(r) != old {
				t.Errorf("Claim changed a task it was not given:\nbefore %+v\nafter  %+v", old, r)
			}
			continue
		}
		if !r.InDoubt() || r.Status != planner.StatusCopying || r.Attempts != old.Attempts+1 {
			t.Errorf("claimed %s@%s: status %q attempts %d; want copying, %d", r.Key, r.VersionID, r.Status, r.Attempts, old.Attempts+1)
		}
		clk.check(t, fmt.Sprintf("ClaimedAt of %s@%s", r.Key, r.VersionID), r.ClaimedAt)
		want := r
		want.Status, want.Attempts, want.ClaimedAt = old.Status, old.Attempts, old.ClaimedAt
		if norm(want) != old {
			t.Errorf("Claim changed more than status, attempts and ClaimedAt:\nbefore %+v\nafter  %+v", old, r)
		}
	}
	// a@v4 was claimed once before (its failed copy).
	if r := h.row("a", "v4"); r.Attempts != 2 {
		t.Errorf("a@v4 attempts = %d, want 2", r.Attempts)
	}
	// Claimed tasks are still work, and now in doubt.
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 2)), "a todo=[v2 v4] done=[v1] in-doubt; c todo=[v1] done=[] in-doubt"; got != want {
		t.Errorf("NextWork after Claim = %q, want %q", got, want)
	}
	// Another claim counts another attempt and does not move ClaimedAt back.
	first := h.row("c", "v1").ClaimedAt
	clk = startClock()
	h.claim("c@v1")
	r := h.row("c", "v1")
	if r.Attempts != 2 || r.ClaimedAt.Before(first) {
		t.Errorf("c@v1 after a second claim: attempts %d, claimed at %v (first %v)", r.Attempts, r.ClaimedAt, first)
	}
	clk.check(t, "ClaimedAt after a second claim", r.ClaimedAt)
	if err := h.s.Claim(h.ctx, nil); err != nil {
		t.Errorf("Claim(nil) = %v", err)
	}
}
