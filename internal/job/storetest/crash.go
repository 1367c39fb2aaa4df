package storetest

import (
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var crashPromises = []promise{
	{"a claim is durable: after a crash the task is in doubt", crashAfterClaim},
	{"a crash between claim and record leaves the task in doubt, NextWork hands it out again", crashBeforeRecord},
	{"outcomes flushed before a crash survive it", crashKeepsFlushed},
	{"a released task is no longer in doubt", crashReleased},
	{"closing a store keeps every outcome recorded", closeFlushes},
}

// crashFixture: keys a (v1, v2), b, c planned as copies, all claimed the
// way the executor claims (NextWork, then Claim of every task it gave).
func (h *harness) crashFixture() (ids map[string]int64) {
	h.t.Helper()
	h.scan(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "b@v1", "c@v1")
	ids = map[string]int64{}
	var claim []int64
	for _, w := range h.nextWork(planner.KeyCursor{}, 64) {
		for _, task := range w.Tasks {
			ids[task.Key+"@"+task.VersionID] = task.ID
			claim = append(claim, task.ID)
		}
	}
	if len(claim) != 4 {
		h.t.Fatalf("NextWork gave %d tasks, want 4", len(claim))
	}
	if err := h.s.Claim(h.ctx, claim); err != nil {
		h.t.Fatalf("Claim: %v", err)
	}
	return ids
}

func crashAfterClaim(t *testing.T, h *harness) {
	clk := startClock()
	h.crashFixture()
	h.crash()
	for _, r := range h.rows("") {
		if !r.InDoubt() || r.Status != planner.StatusCopying || r.Attempts != 1 || r.Action != planner.Copy {
			t.Errorf("%s@%s after a crash = %+v, want in doubt", r.Key, r.VersionID, r)
		}
		clk.check(t, "ClaimedAt of "+r.Key+"@"+r.VersionID, r.ClaimedAt)
	}
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 64)), "a todo=[v1 v2] done=[] in-doubt; b todo=[v1] done=[] in-doubt; c todo=[v1] done=[] in-doubt"; got != want {
		t.Errorf("NextWork after a crash = %q, want %q", got, want)
	}
}

func crashBeforeRecord(t *testing.T, h *harness) {
	clk := startClock()
	ids := h.crashFixture()
	h.recordFlush(planner.Outcome{TaskID: ids["a@v1"], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: replicaID("a@v1")}})
	// Recorded, never flushed: the crash loses them.
	for _, o := range []planner.Outcome{
		{TaskID: ids["a@v2"], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: replicaID("a@v2")}},
		{TaskID: ids["b@v1"], Status: planner.StatusFailed, ErrorCode: "InternalError", HTTPStatus: 500},
	} {
		if err := h.s.Record(o); err != nil {
			t.Fatal(err)
		}
	}
	h.crash()
	if got, want := h.statuses(), "a@v1=succeeded a@v2=copying b@v1=copying c@v1=copying"; got != want {
		t.Errorf("statuses after the crash = %q, want %q", got, want)
	}
	work := h.nextWork(planner.KeyCursor{}, 64)
	if got, want := workString(work), "a todo=[v2] done=[v1] in-doubt; b todo=[v1] done=[] in-doubt; c todo=[v1] done=[] in-doubt"; got != want {
		t.Errorf("NextWork after the crash = %q, want %q", got, want)
	}
	for _, w := range work {
		for _, task := range w.Tasks {
			if !task.InDoubt() || task.Status != planner.StatusCopying {
				t.Errorf("task %s@%s = %+v, want in doubt", task.Key, task.VersionID, task)
			}
			clk.check(t, "ClaimedAt of "+task.Key+"@"+task.VersionID, task.ClaimedAt)
		}
	}
	if r := h.row("a", "v2"); r.Replica != (planner.Replica{}) || r.ErrorCode != "" {
		t.Errorf("a@v2 keeps part of a lost outcome: %+v", r)
	}
	// The next run claims the tasks in doubt again and settles them.
	h.record(planner.StatusSucceeded, "a@v2", "b@v1", "c@v1")
	for _, r := range h.rows("") {
		want := 1
		if r.VersionID == "v2" || r.Key != "a" {
			want = 2
		}
		if r.Status != planner.StatusSucceeded || r.Attempts != want {
			t.Errorf("%s@%s after the next run = %s, %d attempts; want succeeded, %d", r.Key, r.VersionID, r.Status, r.Attempts, want)
		}
	}
}

func crashKeepsFlushed(t *testing.T, h *harness) {
	ids := h.crashFixture()
	made := planner.Replica{VersionID: "r", ETag: `"e"`, ETagStatus: "match", ChecksumStatus: "match", PartLayout: "size", Encryption: planner.SSEKMS, KMSKeyID: "arn:k"}
	h.recordFlush(
		planner.Outcome{TaskID: ids["a@v1"], Status: planner.StatusSucceeded, Replica: made, Message: "copied"},
		planner.Outcome{TaskID: ids["b@v1"], Status: planner.StatusFailed, ErrorCode: "AccessDenied", HTTPStatus: 403, Message: "denied"},
		planner.Outcome{TaskID: ids["c@v1"], Status: planner.StatusPending})
	want := h.rows("")
	if err := h.s.Record(planner.Outcome{TaskID: ids["a@v2"], Status: planner.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	h.crash()
	sameRows(t, "after the crash", h.rows(""), want)
	if r := h.row("a", "v1"); r.Replica != made || r.Message != "copied" {
		t.Errorf("a@v1 after the crash = %+v", r)
	}
}

func crashReleased(t *testing.T, h *harness) {
	ids := h.crashFixture()
	h.recordFlush(planner.Outcome{TaskID: ids["a@v1"], Status: planner.StatusPending}, planner.Outcome{TaskID: ids["c@v1"], Status: planner.StatusPending})
	h.crash()
	work := h.nextWork(planner.KeyCursor{}, 64)
	if got, want := workString(work), "a todo=[v1 v2] done=[] in-doubt; b todo=[v1] done=[] in-doubt; c todo=[v1] done=[]"; got != want {
		t.Errorf("NextWork = %q, want %q", got, want)
	}
	for _, w := range work {
		for _, task := range w.Tasks {
			released := task.ID == ids["a@v1"] || task.ID == ids["c@v1"]
			if task.InDoubt() == released || (task.Status == planner.StatusPending) != released {
				t.Errorf("%s@%s: status %s, in doubt %v; released %v", task.Key, task.VersionID, task.Status, task.InDoubt(), released)
			}
		}
	}
	if n, _, err := h.s.CountWork(h.ctx); err != nil || n != 4 {
		t.Errorf("CountWork = %d, %v; want 4 (released tasks are still to copy)", n, err)
	}
}

func closeFlushes(t *testing.T, h *harness) {
	ids := h.crashFixture()
	for _, v := range []string{"a@v1", "a@v2", "b@v1"} {
		if err := h.s.Record(planner.Outcome{TaskID: ids[v], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: replicaID(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()
	if got, want := h.statuses(), "a@v1=succeeded a@v2=succeeded b@v1=succeeded c@v1=copying"; got != want {
		t.Errorf("statuses after Close and Open = %q, want %q", got, want)
	}
}
