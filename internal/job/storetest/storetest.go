package storetest

import (
	"context"
	"testing"

	"github.com/s3backfill/s3backfill/internal/job"
)

// Backend is one implementation of job.Store as the suite drives it. Every
// field is required.
type Backend struct {
	// New makes an empty store in a place of its own (a file under
	// t.TempDir(), a schema of its own) and opens it; place names it for
	// Open. The suite closes (or crashes) every store it is given.
	New func(t *testing.T) (s job.Store, place string)
	// Open opens the store at place again, as the next run of the job
	// would, after the last store there was closed or crashed.
	Open func(t *testing.T, place string) job.Store
	// Close closes a store as a run that ends normally does: the outcomes
	// given to Record are flushed first.
	Close func(s job.Store) error
	// Crash ends a store as a killed process ends: what the contract does
	// not promise to be durable is lost, and at least every outcome given
	// to Record since the last Flush (the suite records at most 8 before a
	// crash). The place is left so that Open succeeds (locks released). A
	// backend whose Record commits on a timer must not let the timer
	// commit in these tests (the suite does not sleep).
	Crash func(s job.Store) error
	// Shared: many processes may open the place at once and work its job
	// together (Open while another store is open there); the shared
	// promises run too. A crashed worker's lease has run out when Crash
	// returns.
	Shared bool
}

// Run runs the whole suite against b: one subtest per promise of the
// contract, grouped by the methods that make it, each on a new store.
func Run(t *testing.T, b Backend) {
	t.Helper()
	if b.New == nil || b.Open == nil || b.Close == nil || b.Crash == nil {
		t.Fatal("storetest: the Backend needs New, Open, Close and Crash")
	}
	groups := []struct {
		name     string
		promises []promise
	}{
		{"Settings", settingsPromises},
		{"RecordScan", scanPromises},
		{"Manifests", manifestPromises},
		{"KeyLearning", learningPromises},
		{"Plan", planPromises},
		{"Work", workPromises},
		{"Record", recordPromises},
		{"Crash", crashPromises},
		{"Uploads", uploadPromises},
		{"Rows", rowPromises},
		{"Runs", runPromises},
		{"Claims", claimPromises},
		{"Shards", shardPromises},
	}
	if b.Shared {
		groups = append(groups, struct {
			name     string
			promises []promise
		}{"Shared", append(sharedPromises, sharedShardPromises...)})
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, p := range g.promises {
				t.Run(p.name, func(t *testing.T) { p.test(t, newHarness(t, b)) })
			}
		})
	}
}

// promise is one subtest: name says what the contract promises.
type promise struct {
	name string
	test func(t *testing.T, h *harness)
}

// harness holds the store a subtest works on, and reopens it.
type harness struct {
	t     *testing.T
	b     Backend
	ctx   context.Context
	s     job.Store
	place string
	open  bool
	// closeFails: the test broke the store's writer on purpose; closing it
	// may report that error.
	closeFails bool
}

// newHarness makes a new store for t and closes it when t ends.
func newHarness(t *testing.T, b Backend) *harness {
	t.Helper()
	s, place := b.New(t)
	if s == nil {
		t.Fatal("Backend.New returned no store")
	}
	h := &harness{t: t, b: b, ctx: context.Background(), s: s, place: place, open: true}
	t.Cleanup(func() {
		if !h.open {
			return
		}
		if err := b.Close(h.s); err != nil && !h.closeFails {
			t.Errorf("Close at the end of the test: %v", err)
		}
	})
	return h
}

// fresh makes another new store, for a subtest of its own.
func (h *harness) fresh(t *testing.T) *harness {
	t.Helper()
	return newHarness(t, h.b)
}

// reopen closes the store normally and opens it again.
func (h *harness) reopen() {
	h.t.Helper()
	h.open = false
	if err := h.b.Close(h.s); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.s = h.b.Open(h.t, h.place)
	h.open = true
}

// crash ends the store as a killed process would and opens it again, as
// the next run does.
func (h *harness) crash() {
	h.t.Helper()
	h.open = false
	if err := h.b.Crash(h.s); err != nil {
		h.t.Fatalf("Crash: %v", err)
	}
	h.s = h.b.Open(h.t, h.place)
	h.open = true
}
