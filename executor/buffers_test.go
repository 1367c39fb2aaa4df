package executor

import (
	"context"
	"testing"
)

// TestPartBuffersBudget: buffers beyond the budget wait until one is given
// back; part-size buffers are reused; a part larger than the whole budget
// takes all of it.
func TestPartBuffersBudget(t *testing.T) {
	p := newPartBuffers(10, 2)
	ctx := context.Background()
	a, _ := p.get(ctx, 10)
	b, _ := p.get(ctx, 10)
	if p.sem.TryAcquire(1) {
		t.Fatal("a third buffer fit in a budget of two")
	}
	a[0] = 42
	p.put(a)
	c, err := p.get(ctx, 10)
	if err != nil || &c[0] != &a[0] {
		t.Errorf("the part-size buffer given back was not reused (err %v)", err)
	}
	p.put(b)
	p.put(c)
	big, err := p.get(ctx, 100)
	if err != nil || len(big) != 100 {
		t.Fatalf("a part larger than the budget: %d bytes, %v", len(big), err)
	}
	if p.sem.TryAcquire(1) {
		t.Error("a buffer fit beside a part that took the whole budget")
	}
	p.put(big)
	if small, err := p.get(ctx, 3); err != nil || len(small) != 3 {
		t.Errorf("after the big part: %d bytes, %v", len(small), err)
	}
}

func TestPartWorkersFor(t *testing.T) {
	e := &Executor{cfg: Config{PartWorkers: 4, PartSize: 16 << 20}}
	for _, tc := range []struct {
		sizes []int64
		want  int
	}{
		{[]int64{16 << 20, 16 << 20, 1 << 20}, 5}, // about the part size (avg 11 MiB)
		{[]int64{5 << 20, 5 << 20, 5 << 20}, 12},  // 5 MiB parts: 64 MiB in flight
		{[]int64{1 << 20, 1 << 20}, 16},           // capped at 4 × part workers
		{[]int64{64 << 20, 64 << 20}, 4},          // never below --part-workers
	} {
		if got := e.partWorkersFor(layout{sizes: tc.sizes}); got != tc.want {
			t.Errorf("sizes %v: %d part workers, want %d", tc.sizes, got, tc.want)
		}
	}
}
