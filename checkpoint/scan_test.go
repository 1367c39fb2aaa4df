package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// The scan's promises are the conformance suite's; these tests check its
// batching (SQLite specific) and the scans table.

// TestInterruptedScanKeepsKeysWhole abandons a scan after it has written
// some batches, as a crash would, and rescans: every key's history must
// still be in order, which holds only if no batch split a key.
func TestInterruptedScanKeepsKeysWhole(t *testing.T) {
	type keySpec struct {
		key      string
		versions int
	}
	var manyKeys []keySpec
	// 7 versions a key: batches of scanBatch versions would end inside
	// a key if they did not wait for a key boundary.
	for i := range 2*scanBatch/7 + 40 {
		manyKeys = append(manyKeys, keySpec{fmt.Sprintf("k%05d", i), 7})
	}
	tests := []struct {
		name string
		keys []keySpec
	}{
		{"many small keys", manyKeys},
		{"one key longer than a batch", []keySpec{{"a", 3}, {"big", scanBatch + 500}, {"z", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			total := 0
			addKeys := func(s *Scan) {
				for _, k := range tt.keys {
					for rank := range k.versions {
						// Newest first: v<versions> ... v1.
						if err := s.Add(ctx, ver(k.key, fmt.Sprintf("v%d", k.versions-rank), rank)); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			for _, k := range tt.keys {
				total += k.versions
			}

			s, err := db.BeginScan(ctx, testDests)
			if err != nil {
				t.Fatal(err)
			}
			addKeys(s)
			// No Finish: the process died with the last batch unwritten
			// (the batches already handed to the writer are written).
			s.pending.Wait()
			perKey := map[string]int{}
			written := 0
			for _, r := range allRows(t, db) {
				perKey[r.Key]++
				written++
			}
			if written == 0 || written == total {
				t.Fatalf("%d of %d versions written before the interruption; the test needs some but not all", written, total)
			}
			for _, k := range tt.keys {
				if n := perKey[k.key]; n != 0 && n != k.versions {
					t.Errorf("key %s: %d of its %d versions written by the interrupted scan", k.key, n, k.versions)
				}
			}

			s, err = db.BeginScan(ctx, testDests)
			if err != nil {
				t.Fatal(err)
			}
			addKeys(s)
			st, err := s.Finish(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Seen != int64(total) || st.Added != int64(total-written) {
				t.Errorf("rescan stats = %+v, want %d seen, %d added", st, total, total-written)
			}

			next := map[string]int{}
			for _, r := range allRows(t, db) {
				next[r.Key]++
				if want := fmt.Sprintf("v%d", next[r.Key]); r.VersionID != want {
					t.Fatalf("key %s: version %d (oldest first) is %s, want %s", r.Key, next[r.Key], r.VersionID, want)
				}
			}
			for _, k := range tt.keys {
				if next[k.key] != k.versions {
					t.Errorf("key %s: %d rows, want %d", k.key, next[k.key], k.versions)
				}
			}
		})
	}
}

func TestScansAreRecorded(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if st := scanAll(t, db); st != (planner.ScanStats{}) {
		t.Errorf("empty scan stats = %+v", st)
	}
	scanAll(t, db, listing{"a", []string{"v2", "v1"}})
	scanAll(t, db, listing{"a", []string{"v3", "v2", "v1"}})
	if _, err := db.BeginScan(ctx, testDests); err != nil { // never finished
		t.Fatal(err)
	}
	rows, err := db.w.QueryContext(ctx, `SELECT scan_no, started_at, COALESCE(finished_at, '-'), seen, added FROM scans ORDER BY scan_no`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var no, seen, added int64
		var started, finished string
		if err := rows.Scan(&no, &started, &finished, &seen, &added); err != nil {
			t.Fatal(err)
		}
		if started != stamp {
			t.Errorf("scan %d started_at = %q, want %q", no, started, stamp)
		}
		if finished != "-" && finished != stamp {
			t.Errorf("scan %d finished_at = %q, want %q", no, finished, stamp)
		}
		got = append(got, fmt.Sprintf("%d:%v:%d/%d", no, finished != "-", seen, added))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "1:true:0/0 2:true:2/2 3:true:3/1 4:false:0/0"; strings.Join(got, " ") != want {
		t.Errorf("scans = %v, want %s", got, want)
	}
}

// TestFailedListingInsideABatch: a listing that fails inside a key whose
// earlier keys are already written in batches keeps those keys and drops
// the last, incomplete one, also when it is the only key buffered.
func TestFailedListingInsideABatch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	failed := errors.New("page 3 failed")
	var want []string
	_, err := db.RecordScan(ctx, testDests, func(add func(planner.Version) error) error {
		for i := range scanBatch + 1 {
			key := fmt.Sprintf("k%05d", i)
			if err := add(ver(key, "v1", 0)); err != nil {
				return err
			}
			if i < scanBatch {
				want = append(want, key)
			}
		}
		// The first batch is full at the next key: written; the last key
		// (k02000) was being listed when the listing failed.
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("RecordScan = %v, want the listing's error", err)
	}
	var got []string
	for _, r := range allRows(t, db) {
		got = append(got, r.Key)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%d keys kept, want the %d before the last", len(got), len(want))
	}
}
