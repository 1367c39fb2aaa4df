package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/planner"
)

var ctx = context.Background()

// The claims every backend makes, one process holding the store.
var claimPromises = []promise{
	{"ClaimPlan hands out every row to plan once, by id, then none", claimPlanAll},
	{"ClaimKeys hands out every key with copies to make once, in key order, then none", claimKeysAll},
	{"Workers lists no process but this one", workersSelf},
}

func claimPlanAll(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v3", "v2", "v1"}})
	want := h.ids("a@v2", "a@v1", "b@v1", "c@v3", "c@v2", "c@v1")
	slices.Sort(want)
	got := claimAllPlans(t, h.s, 4)
	if !slices.Equal(got, want) {
		t.Errorf("ClaimPlan handed out rows %v, want %v", got, want)
	}
}

// claimAllPlans claims rows to plan limit at a time, saving a pending copy
// plan for each, until none is left; it returns their ids.
func claimAllPlans(t *testing.T, s job.Store, limit int) []int64 {
	t.Helper()
	var ids []int64
	var after int64
	for {
		rows, err := s.ClaimPlan(ctx, after, limit)
		if err != nil {
			t.Errorf("ClaimPlan: %v", err)
			return ids
		}
		if len(rows) == 0 {
			return ids
		}
		var plans []planner.Plan
		for i, r := range rows {
			if i > 0 && r.ID <= rows[i-1].ID {
				t.Errorf("ClaimPlan rows out of id order: %d after %d", r.ID, rows[i-1].ID)
			}
			ids = append(ids, r.ID)
			plans = append(plans, planner.Plan{TaskID: r.ID, Inspection: planner.Inspection{Inspected: true, Encryption: planner.SSES3},
				Decision: planner.Decision{Action: planner.Copy, DestKey: "dst/" + r.Key, ReplicaEncryption: planner.SSES3},
				Status:   planner.StatusPending})
		}
		if err := s.SavePlans(ctx, plans); err != nil {
			t.Errorf("SavePlans: %v", err)
			return ids
		}
		after = rows[len(rows)-1].ID
	}
}

func claimKeysAll(t *testing.T, h *harness) {
	h.workFixture()
	var all []planner.KeyWork
	var after planner.KeyCursor
	for {
		work, err := h.s.ClaimKeys(h.ctx, after, 2)
		if err != nil {
			t.Fatalf("ClaimKeys: %v", err)
		}
		if len(work) == 0 {
			break
		}
		all = append(all, work...)
		after = planner.KeyCursor{Dest: work[len(work)-1].Dest, Key: work[len(work)-1].Key}
	}
	if got := workString(all); got != allWork {
		t.Errorf("ClaimKeys handed out %q\nwant %q", got, allWork)
	}
}

func workersSelf(t *testing.T, h *harness) {
	ws, err := h.s.Workers(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) > 1 || len(ws) == 1 && (!ws[0].Alive || ws[0].Heartbeat.IsZero() || ws[0].PID == 0) {
		t.Errorf("Workers = %+v, want none or this process, alive", ws)
	}
}

// The promises of a store many processes share (Backend.Shared): the
// harness's store and others opened on the same place work one job.
var sharedPromises = []promise{
	{"the pass's scan is made once: a second worker waits for it and lists nothing", sharedScanOnce},
	{"two workers planning at once plan every row once between them", sharedPlan},
	{"two workers copying at once get every key once between them, whole", sharedKeys},
	{"a worker out of keys waits for the keys another holds, until they are done", sharedWaits},
	{"a dead worker's keys go to another once its lease runs out, in doubt", sharedTakeOver},
	{"a key done in the pass is not handed out again; one released unstarted is", sharedDoneOrReleased},
	{"Workers lists each live worker with its keys", sharedWorkers},
}

// second opens another worker on h's store.
func (h *harness) second(t *testing.T) job.Store {
	t.Helper()
	s := h.b.Open(t, h.place)
	t.Cleanup(func() { h.b.Close(s) })
	return s
}

func sharedScanOnce(t *testing.T, h *harness) {
	other := h.second(t)
	st := h.scan(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}})
	listed := false
	st2, err := other.RecordScan(ctx, []string{dest}, func(add func(planner.Version) error) error {
		listed = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if listed || st2.By == "" || st2.Seen != st.Seen || st2.Added != st.Added {
		t.Errorf("the second worker's scan: listed %v, stats %+v; want no listing and the first's %+v with By set", listed, st2, st)
	}
}

// sharedFixture: n keys k000… of one version each, for dest.
func (h *harness) sharedFixture(n int) []string {
	h.t.Helper()
	var ls []listing
	var keys []string
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		ls = append(ls, listing{k, []string{"v2", "v1"}})
		keys = append(keys, k)
	}
	h.scan(ls...)
	return keys
}

func sharedPlan(t *testing.T, h *harness) {
	h.sharedFixture(120)
	all := together([]job.Store{h.s, h.second(t)}, func(s job.Store) []int64 { return claimAllPlans(t, s, 7) })
	slices.Sort(all)
	if len(all) != 240 || len(slices.Compact(slices.Clone(all))) != 240 {
		t.Errorf("the two workers planned %d rows (%d distinct), want each of 240 once", len(all), len(slices.Compact(all)))
	}
}

// copyAll claims keys one batch at a time and records every task
// succeeded, until none is left; it returns the keys it got, with the
// versions of each.
func copyAll(t *testing.T, s job.Store, limit int) []string {
	t.Helper()
	var got []string
	for {
		work, err := s.ClaimKeys(ctx, planner.KeyCursor{}, limit)
		if err != nil {
			t.Errorf("ClaimKeys: %v", err)
			return got
		}
		if len(work) == 0 {
			return got
		}
		for _, w := range work {
			var vs []string
			var ids []int64
			for _, task := range w.Tasks {
				vs = append(vs, task.VersionID)
				ids = append(ids, task.ID)
			}
			got = append(got, w.Key+"="+strings.Join(vs, ","))
			if err := s.Claim(ctx, ids); err != nil {
				t.Errorf("Claim: %v", err)
				return got
			}
			for _, id := range ids {
				if err := s.Record(planner.Outcome{TaskID: id, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "r"}}); err != nil {
					t.Errorf("Record: %v", err)
					return got
				}
			}
		}
		if err := s.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
			return got
		}
	}
}

func sharedKeys(t *testing.T, h *harness) {
	keys := h.sharedFixture(90)
	var vs []string
	for _, k := range keys {
		vs = append(vs, k+"@v1", k+"@v2")
	}
	h.plan(planner.Copy, planner.StatusPending, vs...)
	all := together([]job.Store{h.s, h.second(t)}, func(s job.Store) []string { return copyAll(t, s, 4) })
	slices.Sort(all)
	var want []string
	for _, k := range keys {
		want = append(want, k+"=v1,v2")
	}
	if !slices.Equal(all, want) {
		t.Errorf("the two workers copied %d keys: %v\nwant each of %d once, whole, oldest first", len(all), all, len(want))
	}
}

func sharedWaits(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v1"}}, listing{"b", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "b@v1")
	other := h.second(t)
	held, err := h.s.ClaimKeys(ctx, planner.KeyCursor{}, 1)
	if err != nil || len(held) != 1 || held[0].Key != "a" {
		t.Fatalf("first ClaimKeys = %q, %v; want a", workString(held), err)
	}
	done := make(chan []string)
	go func() { done <- copyAll(t, other, 4) }()
	select {
	case got := <-done:
		t.Fatalf("the second worker finished (%v) while the first held a", got)
	case <-time.After(3 * time.Second): // the wait is what is tested, not how long
	}
	h.record(planner.StatusSucceeded, "a@v1")
	select {
	case got := <-done:
		if !slices.Equal(got, []string{"b=v1"}) {
			t.Errorf("the second worker copied %v, want b alone", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second worker still waits a minute after a was done")
	}
}

func sharedTakeOver(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "b@v1", "c@v1")
	survivor := h.second(t)
	dying := h.b.Open(t, h.place)
	work, err := dying.ClaimKeys(ctx, planner.KeyCursor{}, 3) // up to 3 keys; a shared store may count a's 2 tasks
	if err != nil || workString(work) != "a todo=[v1 v2] done=[]; b todo=[v1] done=[]" {
		t.Fatalf("the dying worker's ClaimKeys = %q, %v", workString(work), err)
	}
	if err := dying.Claim(ctx, h.ids("a@v1", "a@v2", "b@v1")); err != nil {
		t.Fatal(err)
	}
	if err := h.b.Crash(dying); err != nil {
		t.Fatal(err)
	}
	got := copyAll(t, survivor, 8)
	slices.Sort(got)
	if want := []string{"a=v1,v2", "b=v1", "c=v1"}; !slices.Equal(got, want) {
		t.Errorf("the survivor copied %v, want %v", got, want)
	}
	for _, v := range []string{"a@v1", "b@v1"} {
		key, vid := split(t, v)
		if r := h.row(key, vid); r.Attempts != 2 || r.Status != planner.StatusSucceeded {
			t.Errorf("%s after the take-over = %+v, want succeeded at the second attempt", v, r)
		}
	}
}

func sharedDoneOrReleased(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v1"}}, listing{"b", []string{"v1"}}, listing{"c", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "b@v1", "c@v1")
	work, err := h.s.ClaimKeys(ctx, planner.KeyCursor{}, 2)
	if err != nil || workString(work) != "a todo=[v1] done=[]; b todo=[v1] done=[]" {
		t.Fatalf("ClaimKeys = %q, %v", workString(work), err)
	}
	h.claim("a@v1", "b@v1")
	h.recordFlush(planner.Outcome{TaskID: h.ids("a@v1")[0], Status: planner.StatusFailed, ErrorCode: "AccessDenied"},
		planner.Outcome{TaskID: h.ids("b@v1")[0], Status: planner.StatusPending})
	other := h.second(t)
	if got := copyAll(t, other, 8); !slices.Equal(got, []string{"b=v1", "c=v1"}) {
		t.Errorf("another worker of the pass copied %v, want b (released) and c, not a (failed this pass)", got)
	}
}

func sharedWorkers(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v1"}}, listing{"b", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "b@v1")
	other := h.second(t)
	if _, err := other.ClaimKeys(ctx, planner.KeyCursor{}, 1); err != nil {
		t.Fatal(err)
	}
	ws, err := h.s.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[int64]int{}
	for _, w := range ws {
		if !w.Alive || w.Host == "" || w.PID == 0 || w.Heartbeat.IsZero() {
			t.Errorf("worker %+v: want alive, with host, pid and heartbeat", w)
		}
		keys[w.Keys]++
	}
	if len(ws) != 2 || keys[0] != 1 || keys[1] != 1 {
		t.Errorf("Workers = %+v; want two, one holding a key", ws)
	}
}

// together runs fn on every store at once and gathers what they return.
func together[T any](stores []job.Store, fn func(job.Store) []T) []T {
	var (
		mu  sync.Mutex
		all []T
		wg  sync.WaitGroup
	)
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := fn(s)
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}
