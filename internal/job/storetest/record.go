package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var recordPromises = []promise{
	{"outcomes are durable after Flush", recordDurable},
	{"a new outcome replaces the last one", recordReplaces},
	{"Record returns the writer's error after a failed commit", recordCommitError},
	{"Record and Flush are safe from many goroutines at once", recordConcurrent},
}

func recordDurable(t *testing.T, h *harness) {
	if err := h.s.Flush(); err != nil {
		t.Errorf("Flush with nothing recorded = %v", err)
	}
	h.workFixture()
	work := h.ids("a@v2", "a@v4", "c@v1", "d@dm1")
	if err := h.s.Claim(h.ctx, work); err != nil {
		t.Fatal(err)
	}
	aV2, aV4, cV1, dDM := work[0], work[1], work[2], work[3]
	rep := planner.Replica{VersionID: "dst-a@v2", ETag: `"abc"`, ETagStatus: "match", ETagReason: "same bytes",
		ChecksumStatus: planner.ChecksumNotCompared, ChecksumReason: "the source has no checksum", PartLayout: "source"}
	h.recordFlush(
		planner.Outcome{TaskID: aV2, Status: planner.StatusSucceeded, Replica: rep, Message: "copied by CopyObject"},
		planner.Outcome{TaskID: aV4, Status: planner.StatusFailed, ErrorCode: "DstPutObjectNotPermitted", HTTPStatus: 403, Message: "copy a@v4: AccessDenied"})
	h.crash()

	r := h.row("a", "v2")
	// Without an encryption read back, the replica's is the planned one.
	rep.Encryption = planner.SSES3
	if r.Status != planner.StatusSucceeded || r.Replica != rep || r.ReplicaEncryption != planner.SSES3 ||
		r.ErrorCode != "" || r.HTTPStatus != 0 || r.Message != "copied by CopyObject" || r.Attempts != 1 {
		t.Errorf("a@v2 after Flush and a crash = %+v", r)
	}
	r = h.row("a", "v4")
	if r.Status != planner.StatusFailed || r.ErrorCode != "DstPutObjectNotPermitted" || r.HTTPStatus != 403 ||
		r.Message != "copy a@v4: AccessDenied" || r.Replica != (planner.Replica{}) || r.Attempts != 2 || r.Action != planner.Copy {
		t.Errorf("a@v4 after Flush and a crash = %+v", r)
	}

	// The copy learned the replica's encryption: it replaces the plan's.
	made := planner.Replica{VersionID: "dst-c", ETagStatus: "differs-expected", Encryption: planner.SSEKMS, KMSKeyID: "arn:dst"}
	h.recordFlush(
		planner.Outcome{TaskID: cV1, Status: planner.StatusSucceeded, Replica: made},
		// Released unstarted (the run was interrupted).
		planner.Outcome{TaskID: dDM, Status: planner.StatusPending})
	h.crash()
	r = h.row("c", "v1")
	if r.Status != planner.StatusSucceeded || r.Replica != made || r.ReplicaEncryption != planner.SSEKMS || r.ReplicaKMSKeyID != "arn:dst" {
		t.Errorf("c@v1 = %+v, want the replica's encryption read back", r)
	}
	r = h.row("d", "dm1")
	if r.Status != planner.StatusPending || r.InDoubt() || r.Replica != (planner.Replica{}) || r.ErrorCode != "" || r.Action != planner.ReplayDelete {
		t.Errorf("released d@dm1 = %+v", r)
	}
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 100)), "a todo=[v4] done=[v1 v2]; d todo=[dm1] done=[]; f todo=[v2] done=[v1] in-doubt"; got != want {
		t.Errorf("NextWork after the outcomes = %q\nwant %q", got, want)
	}
	if got, want := h.statuses(), "a@v1=succeeded a@v2=succeeded a@v3=skipped a@v4=failed a@v5=pending b@v1=skipped "+
		"c@v1=succeeded d@dm1=pending e@v1=failed f@v1=succeeded f@v2=copying g@v1=pending"; got != want {
		t.Errorf("statuses = %q\nwant %q", got, want)
	}
}

// recordFlush records the outcomes and flushes.
func (h *harness) recordFlush(os ...planner.Outcome) {
	h.t.Helper()
	for _, o := range os {
		if err := h.s.Record(o); err != nil {
			h.t.Fatalf("Record(%+v): %v", o, err)
		}
	}
	if err := h.s.Flush(); err != nil {
		h.t.Fatalf("Flush: %v", err)
	}
}

func recordReplaces(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "k@v1")
	id := h.ids("k@v1")[0]
	h.claim("k@v1")
	h.recordFlush(planner.Outcome{TaskID: id, Status: planner.StatusFailed, ErrorCode: "SlowDown", HTTPStatus: 503, Message: "throttled"})
	h.claim("k@v1")
	made := planner.Replica{VersionID: "r1", ETag: `"e"`, ETagStatus: "match", Encryption: planner.SSEKMS, KMSKeyID: "arn:k"}
	h.recordFlush(planner.Outcome{TaskID: id, Status: planner.StatusSucceeded, Replica: made, Message: "copied"})
	r := h.row("k", "v1")
	if r.Status != planner.StatusSucceeded || r.ErrorCode != "" || r.HTTPStatus != 0 || r.Message != "copied" || r.Replica != made || r.Attempts != 2 {
		t.Errorf("a success after a failure = %+v, want the failure forgotten", r)
	}
	if work := h.nextWork(planner.KeyCursor{}, 10); workString(work) != "" {
		t.Errorf("NextWork = %q, want nothing to do", workString(work))
	}
}

func recordCommitError(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v3", "v2", "v1"}})
	h.plan(planner.Copy, planner.StatusPending, "k@v1", "k@v2", "k@v3")
	ids := h.ids("k@v1", "k@v2", "k@v3")
	if err := h.s.Claim(h.ctx, ids); err != nil {
		t.Fatal(err)
	}
	h.recordFlush(planner.Outcome{TaskID: ids[0], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "r1"}})
	h.closeFails = true
	if err := h.s.Record(planner.Outcome{TaskID: ids[1], Status: "done"}); err != nil {
		t.Logf("Record refused a bad status at once (%v): nothing to commit, nothing failed", err)
	} else {
		ferr := h.s.Flush()
		if ferr == nil {
			t.Fatal("Flush committed an unknown status")
		}
		// The run must stop: what is recorded from now on is refused.
		if err := h.s.Record(planner.Outcome{TaskID: ids[2], Status: planner.StatusSucceeded}); err == nil {
			t.Error("Record after a failed commit succeeded")
		}
		if err := h.s.Flush(); err == nil {
			t.Error("Flush after a failed commit succeeded")
		}
	}
	// What was committed stays; the next run finds the rest in doubt.
	h.crash()
	h.closeFails = false
	if got, want := h.statuses(), "k@v1=succeeded k@v2=copying k@v3=copying"; got != want {
		t.Errorf("statuses after the failed commit = %q, want %q", got, want)
	}
	h.recordFlush(planner.Outcome{TaskID: ids[1], Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: "r2"}})
	if got, want := h.statuses(), "k@v1=succeeded k@v2=succeeded k@v3=copying"; got != want {
		t.Errorf("statuses after the next run's outcome = %q, want %q", got, want)
	}
}

func recordConcurrent(t *testing.T, h *harness) {
	const n, workers = 1000, 16
	var ls []listing
	for i := range n {
		ls = append(ls, listing{fmt.Sprintf("k%04d", i), []string{"v1"}})
	}
	h.scan(ls...)
	var ids []int64
	var plans []planner.Plan
	for _, r := range h.rows("") {
		ids = append(ids, r.ID)
		plans = append(plans, planner.Plan{TaskID: r.ID, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusPending})
	}
	if err := h.s.SavePlans(h.ctx, plans); err != nil {
		t.Fatal(err)
	}
	outcome := func(id int64) planner.Outcome {
		if id%3 == 0 {
			return planner.Outcome{TaskID: id, Status: planner.StatusFailed, ErrorCode: fmt.Sprint("E", id), HTTPStatus: 500}
		}
		return planner.Outcome{TaskID: id, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: fmt.Sprint("r", id)}}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		stop = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Readers run all along.
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.s.NextWork(h.ctx, planner.KeyCursor{}, 64); err != nil {
					fail(fmt.Errorf("NextWork: %w", err))
				}
				if _, err := h.s.Counts(h.ctx); err != nil {
					fail(fmt.Errorf("Counts: %w", err))
				}
				if _, _, err := h.s.CountWork(h.ctx); err != nil {
					fail(fmt.Errorf("CountWork: %w", err))
				}
			}
		}()
	}
	// Each worker claims its share in batches, as the executor does, and
	// records every outcome; half way, and at its end, it flushes.
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for i := w; i < n; i += workers {
				mine = append(mine, ids[i])
			}
			for start := 0; start < len(mine); start += 16 {
				batch := mine[start:min(start+16, len(mine))]
				if err := h.s.Claim(h.ctx, batch); err != nil {
					fail(fmt.Errorf("Claim: %w", err))
					return
				}
				for _, id := range batch {
					if err := h.s.Record(outcome(id)); err != nil {
						fail(fmt.Errorf("Record: %w", err))
						return
					}
				}
				if start == 32 {
					if err := h.s.Flush(); err != nil {
						fail(fmt.Errorf("Flush: %w", err))
					}
				}
			}
			if err := h.s.Flush(); err != nil {
				fail(fmt.Errorf("Flush: %w", err))
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Every worker flushed after its last Record: everything is durable.
	h.crash()
	rows := h.rows("")
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	bad := 0
	for _, r := range rows {
		o := outcome(r.ID)
		if r.Status != o.Status || r.Replica.VersionID != o.Replica.VersionID || r.ErrorCode != o.ErrorCode || r.HTTPStatus != o.HTTPStatus || r.Attempts != 1 {
			if bad++; bad <= 5 {
				t.Errorf("%s: %s %q %q %d attempts %d; want %+v", r.Key, r.Status, r.Replica.VersionID, r.ErrorCode, r.HTTPStatus, r.Attempts, o)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d rows wrong in all", bad)
	}
}
