package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

func TestScanOrdersVersionsOldestFirst(t *testing.T) {
	db := openTest(t)
	st := scanAll(t, db,
		listing{"a", []string{"v3", "v2", "v1"}},
		listing{"b/c", []string{"x"}},
		listing{"b/d", []string{"dm2", "v1"}},
	)
	if st != (planner.ScanStats{Seen: 6, Added: 6}) {
		t.Errorf("stats = %+v, want 6 seen, 6 added", st)
	}
	if got, want := history(t, db), "a: v1 v2 v3; b/c: x; b/d: v1 dm2"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
	for _, r := range allRows(t, db, false) {
		if wantLatest := r.VersionID == "v3" || r.VersionID == "x" || r.VersionID == "dm2"; r.IsLatest != wantLatest {
			t.Errorf("%s@%s: IsLatest = %v, want %v", r.Key, r.VersionID, r.IsLatest, wantLatest)
		}
		if r.Status != planner.StatusPending || r.Attempts != 0 || r.Action != "" || r.Inspected {
			t.Errorf("%s@%s: new row = %+v, want pending, unplanned", r.Key, r.VersionID, r)
		}
	}
}

func TestScanRecordsListedFields(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	zone := time.FixedZone("UTC+2", 2*60*60)
	s, err := db.BeginScan(ctx, testDests)
	if err != nil {
		t.Fatal(err)
	}
	vs := []planner.Version{
		{Key: "k", VersionID: "dm", Rank: 0, IsLatest: true, DeleteMarker: true,
			LastModified: time.Date(2024, 6, 1, 14, 0, 0, 123456789, zone)},
		{Key: "k", VersionID: "v1", Rank: 1, Size: 5 << 30, ETag: `"abc-3"`, StorageClass: "GLACIER",
			LastModified: time.Date(2024, 6, 1, 12, 30, 0, 0, zone)},
		{Key: "k", VersionID: "v0", Rank: 2}, // no time known
	}
	for _, v := range vs {
		if err := s.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	got := allRows(t, db, false)
	if len(got) != 3 {
		t.Fatalf("%d rows, want 3", len(got))
	}
	want := []struct {
		vid, lm, etag, class string
		size                 int64
		dm, latest           bool
	}{
		{"v0", "", "", "", 0, false, false},
		{"v1", "2024-06-01T10:30:00Z", `"abc-3"`, "GLACIER", 5 << 30, false, false},
		{"dm", "2024-06-01T12:00:00.123456789Z", "", "", 0, true, true},
	}
	for i, w := range want {
		r := got[i]
		if r.VersionID != w.vid || formatStamp(r.LastModified) != w.lm || r.ETag != w.etag || r.StorageClass != w.class ||
			r.Size != w.size || r.DeleteMarker != w.dm || r.IsLatest != w.latest {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
}

func TestRescanKeepsPlansAndOutcomes(t *testing.T) {
	db := openTest(t)
	ls := []listing{{"a", []string{"v2", "v1"}}, {"b", []string{"v1"}}}
	scanAll(t, db, ls...)
	plan(t, db, "copy", planner.StatusPending, "a@v1", "a@v2")
	plan(t, db, "skip", planner.StatusSkipped, "b@v1")
	record(t, db, planner.StatusSucceeded, "a@v1")
	record(t, db, planner.StatusFailed, "a@v2")
	before := allRows(t, db, false)

	st := scanAll(t, db, ls...)
	if st != (planner.ScanStats{Seen: 3, Added: 0}) {
		t.Errorf("rescan stats = %+v, want 3 seen, 0 added", st)
	}
	after := allRows(t, db, false)
	if len(after) != len(before) {
		t.Fatalf("rescan changed the row count from %d to %d", len(before), len(after))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("rescan changed a row:\nbefore %+v\nafter  %+v", before[i], after[i])
		}
	}
	if got, want := statuses(t, db), "a@v1=succeeded a@v2=failed b@v1=skipped"; got != want {
		t.Errorf("statuses = %q, want %q", got, want)
	}
}

func TestRescanAddsNewVersionsAfterOlderOnes(t *testing.T) {
	db := openTest(t)
	scanAll(t, db, listing{"a", []string{"v2", "v1"}}, listing{"m", []string{"v1"}})
	plan(t, db, "copy", planner.StatusPending, "a@v1", "a@v2", "m@v1")
	record(t, db, planner.StatusSucceeded, "a@v2")

	// v3 is new; a key sorting first appears.
	st := scanAll(t, db, listing{"0first", []string{"x"}}, listing{"a", []string{"v3", "v2", "v1"}}, listing{"m", []string{"v1"}})
	if st != (planner.ScanStats{Seen: 5, Added: 2}) {
		t.Errorf("second scan stats = %+v, want 5 seen, 2 added", st)
	}
	if got, want := history(t, db), "0first: x; a: v1 v2 v3; m: v1"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
	// Two more versions at once: they sort by their rank in that scan.
	st = scanAll(t, db, listing{"0first", []string{"x"}}, listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}}, listing{"m", []string{"v1"}})
	if st != (planner.ScanStats{Seen: 7, Added: 2}) {
		t.Errorf("third scan stats = %+v, want 7 seen, 2 added", st)
	}
	if got, want := history(t, db), "0first: x; a: v1 v2 v3 v4 v5; m: v1"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}

	// Only is-latest was refreshed on the known versions.
	v2 := rowByVersion(t, db, "a", "v2")
	if v2.IsLatest || v2.Status != planner.StatusSucceeded || v2.Replica.VersionID != "dst-a@v2" || v2.Action != "copy" {
		t.Errorf("a@v2 after rescans = %+v, want not latest, still succeeded with its plan", v2)
	}
	if v5 := rowByVersion(t, db, "a", "v5"); !v5.IsLatest || v5.Status != planner.StatusPending {
		t.Errorf("a@v5 = %+v, want latest and pending", v5)
	}
	for _, vid := range []string{"v3", "v4"} {
		if r := rowByVersion(t, db, "a", vid); r.IsLatest {
			t.Errorf("a@%s is still latest after a newer version was listed", vid)
		}
	}
}

func TestRescanReplacedNullVersion(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	null := planner.Version{Key: "k", VersionID: "null", Rank: 1, Size: 10, ETag: "e-null", LastModified: t0.Add(time.Hour)}
	first := []planner.Version{
		{Key: "k", VersionID: "v2", Rank: 0, IsLatest: true, Size: 20, ETag: "e-v2", LastModified: t0.Add(2 * time.Hour)},
		null,
		{Key: "k", VersionID: "v1", Rank: 2, Size: 30, ETag: "e-v1", LastModified: t0},
	}
	// The null version rewritten while versioning was suspended: it is
	// the newest version now.
	rewritten := func(f func(*planner.Version)) []planner.Version {
		n := null
		n.Rank, n.IsLatest = 0, true
		f(&n)
		v2 := first[0]
		v2.Rank, v2.IsLatest = 1, false
		return []planner.Version{n, v2, first[2]}
	}
	tests := []struct {
		name     string
		second   []planner.Version
		replaced bool
	}{
		{"unchanged", first, false},
		{"new ETag", rewritten(func(v *planner.Version) { v.ETag = "e-null-2"; v.LastModified = t0.Add(3 * time.Hour) }), true},
		{"new size only", rewritten(func(v *planner.Version) { v.Size = 11 }), true},
		{"new time only", rewritten(func(v *planner.Version) { v.LastModified = t0.Add(3 * time.Hour) }), true},
		{"now a delete marker", rewritten(func(v *planner.Version) { v.DeleteMarker, v.Size, v.ETag = true, 0, "" }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			addAll(t, db, first)
			plan(t, db, "copy", planner.StatusPending, "k@v1", "k@null", "k@v2")
			record(t, db, planner.StatusSucceeded, "k@v1", "k@null")
			record(t, db, planner.StatusFailed, "k@v2")
			if got, want := history(t, db), "k: v1 null v2"; got != want {
				t.Fatalf("history after the first scan = %q, want %q", got, want)
			}
			oldNull := rowByVersion(t, db, "k", "null")

			addAll(t, db, tt.second)
			r := rowByVersion(t, db, "k", "null")
			if !tt.replaced {
				if got, want := history(t, db), "k: v1 null v2"; got != want {
					t.Errorf("history = %q, want %q", got, want)
				}
				if r != oldNull {
					t.Errorf("unchanged null version changed:\nbefore %+v\nafter  %+v", oldNull, r)
				}
				return
			}
			if got, want := history(t, db), "k: v1 v2 null"; got != want {
				t.Errorf("history = %q, want %q (the replaced null version is the newest)", got, want)
			}
			if r.Status != planner.StatusPending || r.Inspected {
				t.Errorf("replaced null version: status %q inspected %v, want pending and uninspected", r.Status, r.Inspected)
			}
			// Its old plan and outcome are gone: a copy phase run before the
			// next plan must not copy it with the old object's plan.
			if r.Action != "" || r.Replica.VersionID != "" || r.Attempts != 0 || r.ErrorCode != "" || r.Message != "" {
				t.Errorf("replaced null version keeps its old plan or outcome: %+v", r)
			}
			if work, err := db.NextWork(ctx, planner.KeyCursor{}, 10); err != nil || len(work) != 1 || len(work[0].Tasks) != 1 || work[0].Tasks[0].VersionID != "v2" {
				t.Errorf("NextWork = %+v, %v; want only v2 (the null version is unplanned)", work, err)
			}
			n := tt.second[0]
			if r.ETag != n.ETag || r.Size != n.Size || r.DeleteMarker != n.DeleteMarker || !r.IsLatest ||
				!r.LastModified.Equal(n.LastModified) {
				t.Errorf("replaced null version = %+v, want the new listing's %+v", r, n)
			}
			if got, want := statuses(t, db), "k@v1=succeeded k@v2=failed k@null=pending"; got != want {
				t.Errorf("statuses = %q, want %q", got, want)
			}
			// It is planned again, and v2, now older than the pending
			// null version, is not held back by it.
			page, err := db.PlanPage(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range page {
				got = append(got, fmt.Sprintf("%s:%v", p.VersionID, p.NewerReplicated))
			}
			if strings.Join(got, " ") != "v2:false null:false" {
				t.Errorf("PlanPage = %v, want null and v2, neither with a newer replicated version", got)
			}
		})
	}
}

// TestRescanReplacedNullVersionAmongNewVersions: a scan that finds both a
// new version and a replaced null version orders them by that listing.
func TestRescanReplacedNullVersionAmongNewVersions(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := func(id string, rank int, etag string, hours int) planner.Version {
		return planner.Version{Key: "k", VersionID: id, Rank: rank, IsLatest: rank == 0, Size: 1, ETag: etag, LastModified: t0.Add(time.Duration(hours) * time.Hour)}
	}
	db := openTest(t)
	addAll(t, db, []planner.Version{v("v3", 0, "e3", 4), v("v2", 1, "e2", 3), v("null", 2, "en", 2), v("v1", 3, "e1", 1)})
	if got, want := history(t, db), "k: v1 null v2 v3"; got != want {
		t.Fatalf("history = %q, want %q", got, want)
	}
	st := addAll(t, db, []planner.Version{v("null", 0, "en-2", 6), v("v4", 1, "e4", 5), v("v3", 2, "e3", 4), v("v2", 3, "e2", 3), v("v1", 4, "e1", 1)})
	if st != (planner.ScanStats{Seen: 5, Added: 1}) {
		t.Errorf("stats = %+v, want 5 seen, 1 added", st)
	}
	if got, want := history(t, db), "k: v1 v2 v3 v4 null"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
}

// addAll runs one scan of exactly these versions.
func addAll(t *testing.T, db *DB, vs []planner.Version) planner.ScanStats {
	t.Helper()
	ctx := context.Background()
	s, err := db.BeginScan(ctx, testDests)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if err := s.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

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
			for _, r := range allRows(t, db, false) {
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
			for _, r := range allRows(t, db, false) {
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
