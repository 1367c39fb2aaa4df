package job_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/planner"
)

// TestBudget: --max-versions stops a run once that many versions settled
// (the copies in flight finish; none is left claimed), Finish says how many
// are left with BudgetError, and the next run copies the rest, each once.
// A --max-duration already spent starts no copy at all.
func TestBudget(t *testing.T) {
	f := newFake(t)
	for i := range 12 {
		put(f, fmt.Sprintf("data/%02d", i), "v1", []byte("x"), nil)
	}
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{})
	e.scanPlan(t)
	settings, err := e.spec.Parse()
	if err != nil {
		t.Fatal(err)
	}
	open := func(s job.Settings) *job.Job {
		j, err := job.Open(context.Background(), s, job.Deps{Source: f.Client(srcClient), Dest: f.Client(dstClient),
			Store: e.db, Log: e.job.Log})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	count := func() (succeeded, pending int) {
		for _, r := range e.rows(t) {
			switch r.Status {
			case planner.StatusSucceeded:
				succeeded++
			case planner.StatusPending:
				pending++
			default:
				t.Errorf("%s: %s after a budget stop, want succeeded or pending", r.Key, r.Status)
			}
		}
		return
	}

	spent := settings
	spent.MaxDuration = time.Nanosecond
	j := open(spent)
	time.Sleep(time.Millisecond)
	if err := j.Copy(context.Background()); err != nil {
		t.Fatal(err)
	}
	var be job.BudgetError
	if err := j.Finish(context.Background(), io.Discard, "job.db"); !errors.As(err, &be) || be.Left != 12 {
		t.Fatalf("Finish = %v, want a BudgetError with 12 left", err)
	}
	if s, p := count(); s != 0 || p != 12 {
		t.Errorf("after a spent --max-duration: %d copied, %d pending; want none copied", s, p)
	}

	five := settings
	five.MaxVersions = 5
	j = open(five)
	if err := j.Copy(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = j.Finish(context.Background(), io.Discard, "job.db")
	s, p := count()
	if !errors.As(err, &be) || be.Left != int64(p) || be.Why != "--max-versions 5" {
		t.Fatalf("Finish = %v, want a BudgetError naming --max-versions 5 with %d left", err, p)
	}
	if s < 5 || s > 5+settings.Spec.Workers {
		t.Errorf("--max-versions 5 copied %d (with %d workers in flight at most)", s, settings.Spec.Workers)
	}

	j = open(settings)
	if err := j.Copy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(context.Background(), io.Discard, "job.db"); err != nil {
		t.Fatalf("the run after: %v", err)
	}
	for k, n := range copyObjects(f) {
		if n != 1 {
			t.Errorf("%s copied %d times", k, n)
		}
	}
	if s, _ := count(); s != 12 {
		t.Errorf("%d copied in all, want 12", s)
	}
}
