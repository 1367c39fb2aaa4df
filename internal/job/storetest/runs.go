package storetest

import (
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var runPromises = []promise{
	{"a new store has no last run", func(t *testing.T, h *harness) {
		if r, err := h.s.LastRun(h.ctx); err != nil || r != nil {
			t.Errorf("LastRun of a new store = %+v, %v; want nil", r, err)
		}
	}},
	{"BeginRun, UpdateRun and LastRun keep a run's traffic and times", runTraffic},
	{"LastRun is the latest run", runLatest},
}

// lastRun is LastRun, which must exist.
func (h *harness) lastRun() planner.RunStats {
	h.t.Helper()
	r, err := h.s.LastRun(h.ctx)
	if err != nil || r == nil {
		h.t.Fatalf("LastRun = %+v, %v", r, err)
	}
	return *r
}

func runTraffic(t *testing.T, h *harness) {
	clk := startClock()
	no, err := h.s.BeginRun(h.ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	r := h.lastRun()
	clk.check(t, "StartedAt", r.StartedAt)
	clk.check(t, "UpdatedAt", r.UpdatedAt)
	if r.Command != "run" || !r.FinishedAt.IsZero() || r.Requests != 0 || r.Throttled != 0 || r.Rate != 0 || r.UpdatedAt.Before(r.StartedAt) {
		t.Errorf("LastRun of a run just begun = %+v", r)
	}
	started := r.StartedAt

	if err := h.s.UpdateRun(h.ctx, no, planner.RunStats{Command: "ignored", Requests: 42, Throttled: 1, Rate: 3.5}, false); err != nil {
		t.Fatal(err)
	}
	h.crash()
	r = h.lastRun()
	if r.Command != "run" || !r.StartedAt.Equal(started) || !r.FinishedAt.IsZero() || r.Requests != 42 || r.Throttled != 1 || r.Rate != 3.5 ||
		r.UpdatedAt.Before(started) {
		t.Errorf("LastRun of a running run after a crash = %+v", r)
	}
	clk.check(t, "UpdatedAt", r.UpdatedAt)

	if err := h.s.UpdateRun(h.ctx, no, planner.RunStats{Requests: 50, Throttled: 2, Rate: 0.25}, true); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	r = h.lastRun()
	if r.Command != "run" || !r.StartedAt.Equal(started) || r.Requests != 50 || r.Throttled != 2 || r.Rate != 0.25 || r.FinishedAt.Before(r.StartedAt) {
		t.Errorf("LastRun of a finished run = %+v", r)
	}
	clk.check(t, "FinishedAt", r.FinishedAt)
}

func runLatest(t *testing.T, h *harness) {
	first, err := h.s.BeginRun(h.ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.UpdateRun(h.ctx, first, planner.RunStats{Requests: 10}, true); err != nil {
		t.Fatal(err)
	}
	second, err := h.s.BeginRun(h.ctx, "verify")
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatalf("two runs both numbered %d", first)
	}
	if r := h.lastRun(); r.Command != "verify" || r.Requests != 0 || !r.FinishedAt.IsZero() {
		t.Errorf("LastRun = %+v, want the verify run just begun", r)
	}
	// A late update of the first run does not touch the second.
	if err := h.s.UpdateRun(h.ctx, first, planner.RunStats{Requests: 11}, true); err != nil {
		t.Fatal(err)
	}
	if err := h.s.UpdateRun(h.ctx, second, planner.RunStats{Requests: 7}, false); err != nil {
		t.Fatal(err)
	}
	if r := h.lastRun(); r.Command != "verify" || r.Requests != 7 || !r.FinishedAt.IsZero() {
		t.Errorf("LastRun = %+v, want the verify run with 7 requests, running", r)
	}
}
