package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// shardSource is a source in folders, listed by shard as inventory would.
type shardSource struct {
	vs []planner.Version // in listing order

	mu     sync.Mutex
	splits int
	listed []planner.Shard // every list call, in order
	pause  time.Duration   // per shard listed
	// failAfter: a list of the shard with this prefix fails after adding
	// the versions of that many keys (0: never).
	failPrefix string
	failAfter  int
}

func newShardSource() *shardSource {
	return &shardSource{vs: versions(
		listing{"a/1", []string{"v2", "v1"}}, listing{"a/2", []string{"v1"}}, listing{"a/3", []string{"v3", "v2", "v1"}},
		listing{"a/4", []string{"v1"}}, listing{"b/1", []string{"v1"}}, listing{"b/x/2", []string{"v2", "v1"}},
		listing{"c/1", []string{"v1"}}, listing{"d/1", []string{"v1"}}, listing{"e/1", []string{"v1"}},
		listing{"top", []string{"v1"}})}
}

// whole is the history a complete listing records.
const shardHistory = "a/1: v1 v2; a/2: v1; a/3: v1 v2 v3; a/4: v1; b/1: v1; b/x/2: v1 v2; c/1: v1; d/1: v1; e/1: v1; top: v1"

func (s *shardSource) split(context.Context) ([]planner.Shard, error) {
	s.mu.Lock()
	s.splits++
	s.mu.Unlock()
	out := []planner.Shard{{Prefix: "", Direct: true}}
	for _, p := range []string{"a/", "b/", "c/", "d/", "e/"} {
		out = append(out, planner.Shard{Prefix: p})
	}
	return out, nil
}

func (s *shardSource) list(_ context.Context, sh planner.Shard, add func(planner.Version) error) error {
	s.mu.Lock()
	s.listed = append(s.listed, sh)
	s.mu.Unlock()
	time.Sleep(s.pause)
	keys := 0
	last := ""
	for _, v := range s.vs {
		in := sh.All || strings.HasPrefix(v.Key, sh.Prefix) && (!sh.Direct || !strings.Contains(v.Key[len(sh.Prefix):], "/"))
		if !in || v.Key <= sh.After {
			continue
		}
		if v.Key != last {
			if s.failAfter > 0 && sh.Prefix == s.failPrefix && keys == s.failAfter {
				return errors.New("the listing broke")
			}
			keys++
			last = v.Key
		}
		if err := add(v); err != nil {
			return err
		}
	}
	return nil
}

var shardPromises = []promise{
	{"RecordShardedScan records every version of every shard, in order", shardedScanAll},
}

func shardedScanAll(t *testing.T, h *harness) {
	src := newShardSource()
	st, err := h.s.RecordShardedScan(h.ctx, []string{dest}, src.split, src.list)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.history(); got != shardHistory {
		t.Errorf("history = %q\nwant      %q", got, shardHistory)
	}
	if st.Seen != int64(len(src.vs)) || st.Added != int64(len(src.vs)) || st.By != "" {
		t.Errorf("stats %+v, want %d seen and added, by this process", st, len(src.vs))
	}
}

var sharedShardPromises = []promise{
	{"two workers list the pass's shards side by side: split once, each shard once", sharedShards},
	{"a dead worker's shard is listed again after the last key it recorded", sharedShardResumes},
}

func sharedShards(t *testing.T, h *harness) {
	src := newShardSource()
	src.pause = 50 * time.Millisecond
	other := h.second(t)
	var wg sync.WaitGroup
	stats := make([]planner.ScanStats, 2)
	for i, s := range []interface {
		RecordShardedScan(context.Context, []string, func(context.Context) ([]planner.Shard, error),
			func(context.Context, planner.Shard, func(planner.Version) error) error) (planner.ScanStats, error)
	}{h.s, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.RecordShardedScan(ctx, []string{dest}, src.split, src.list)
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
			stats[i] = st
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, sh := range src.listed {
		seen[sh.Prefix]++
	}
	if src.splits != 1 || len(src.listed) != 6 || len(seen) != 6 {
		t.Errorf("split %d times, shards listed %v; want one split and each of 6 shards once", src.splits, src.listed)
	}
	if got := h.history(); got != shardHistory {
		t.Errorf("history = %q\nwant      %q", got, shardHistory)
	}
	for i, st := range stats {
		if st.Seen != int64(len(src.vs)) || st.Added != int64(len(src.vs)) {
			t.Errorf("worker %d: stats %+v, want the pass's %d seen and added", i, st, len(src.vs))
		}
	}
}

func sharedShardResumes(t *testing.T, h *harness) {
	survivor := h.second(t)
	dying := h.b.Open(t, h.place)
	src := newShardSource()
	// Every shard the dying worker lists fails after two keys.
	broken := &shardSource{vs: src.vs, failAfter: 2}
	if _, err := dying.RecordShardedScan(ctx, []string{dest}, src.split, func(c context.Context, sh planner.Shard, add func(planner.Version) error) error {
		broken.failPrefix = sh.Prefix
		return broken.list(c, sh, add)
	}); err == nil {
		t.Fatal("the dying worker's listing did not fail")
	}
	// It stopped in the shard it listed last (shards of fewer keys than two
	// were listed whole before it).
	taken := broken.listed[len(broken.listed)-1]
	if err := h.b.Crash(dying); err != nil {
		t.Fatal(err)
	}
	if _, err := survivor.RecordShardedScan(ctx, []string{dest}, src.split, src.list); err != nil {
		t.Fatal(err)
	}
	var again *planner.Shard
	for i, sh := range src.listed {
		if sh.Prefix == taken.Prefix {
			again = &src.listed[i]
		}
	}
	// Two keys were listed; the second may have been incomplete, so the
	// first is the last recorded whole.
	if again == nil || again.After == "" || !strings.HasPrefix(again.After, taken.Prefix) {
		t.Errorf("the survivor listed %v; want shard %q again, after the key recorded", src.listed, taken.Prefix)
	}
	if src.splits != 1 {
		t.Errorf("split %d times, want once (the pass's shards stay)", src.splits)
	}
	if got := h.history(); got != shardHistory {
		t.Errorf("history = %q\nwant      %q", got, shardHistory)
	}
}
