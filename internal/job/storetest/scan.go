package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

var settingsPromises = []promise{
	{"a new store has none", func(t *testing.T, h *harness) {
		s, ok, err := h.s.Settings(h.ctx)
		if err != nil || ok || s != nil {
			t.Errorf("Settings of a new store = %q, %v, %v; want nothing", s, ok, err)
		}
	}},
	{"the last spec saved comes back byte for byte", func(t *testing.T, h *harness) {
		for _, v := range []string{`{"source":"s3://a/p/","workers":8}`, `{"source":"s3://b"}`, `{}`,
			`{"unicode":"ünï","space": [1, 2]}`, `{"source":"s3://a/p/","workers":8}`} {
			if err := h.s.SaveSettings(h.ctx, []byte(v)); err != nil {
				t.Fatalf("SaveSettings(%s): %v", v, err)
			}
			s, ok, err := h.s.Settings(h.ctx)
			if err != nil || !ok || string(s) != v {
				t.Errorf("Settings after saving %s = %q, %v, %v", v, s, ok, err)
			}
		}
	}},
	{"settings are durable when SaveSettings returns", func(t *testing.T, h *harness) {
		if err := h.s.SaveSettings(h.ctx, []byte(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		h.reopen()
		if s, ok, err := h.s.Settings(h.ctx); err != nil || !ok || string(s) != `{"n":1}` {
			t.Errorf("Settings after a reopen = %q, %v, %v", s, ok, err)
		}
		if err := h.s.SaveSettings(h.ctx, []byte(`{"n":2}`)); err != nil {
			t.Fatal(err)
		}
		h.crash()
		if s, ok, err := h.s.Settings(h.ctx); err != nil || !ok || string(s) != `{"n":2}` {
			t.Errorf("Settings after a crash = %q, %v, %v", s, ok, err)
		}
	}},
}

var scanPromises = []promise{
	{"versions read back oldest first per key, pending and unplanned", scanOrder},
	{"the listed fields are kept", scanFields},
	{"each version is a task for each destination", scanDests},
	{"a rescan keeps plans and outcomes", rescanKeeps},
	{"a rescan adds only new versions, after the older ones", rescanAdds},
	{"a replaced null version starts over as pending", nullReplaced},
	{"a replaced null version among new versions takes its listing place", nullAmongNew},
	{"a failed listing keeps the keys it added and returns its error", failedListing},
	{"the versions of one key land together: a listing failing inside a key does not split it", failedInsideKey},
}

func scanOrder(t *testing.T, h *harness) {
	st := h.scan(listing{"a", []string{"v3", "v2", "v1"}}, listing{"b/c", []string{"x"}}, listing{"b/d", []string{"dm2", "v1"}})
	if st != (planner.ScanStats{Seen: 6, Added: 6}) {
		t.Errorf("stats = %+v, want 6 seen, 6 added", st)
	}
	if got, want := h.history(), "a: v1 v2 v3; b/c: x; b/d: v1 dm2"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
	ids := map[int64]bool{}
	for _, r := range h.rows("") {
		ids[r.ID] = true
		rank := map[string]int{"v3": 0, "v2": 1, "v1": 2, "x": 0, "dm2": 0}[r.VersionID]
		if r.Key == "b/d" && r.VersionID == "v1" {
			rank = 1
		}
		if want := newRow(r.ID, dest, ver(r.Key, r.VersionID, rank)); norm(r) != want {
			t.Errorf("new row\n got %+v\nwant %+v", norm(r), want)
		}
	}
	if len(ids) != 6 || ids[0] {
		t.Errorf("task ids %v: want 6 distinct, non-zero", ids)
	}
	if st := h.scan(); st != (planner.ScanStats{}) {
		t.Errorf("stats of an empty listing = %+v", st)
	}
}

func scanFields(t *testing.T, h *harness) {
	zone := time.FixedZone("UTC+2", 2*60*60)
	vs := []planner.Version{
		{Key: "k", VersionID: "dm", Rank: 0, IsLatest: true, DeleteMarker: true,
			LastModified: time.Date(2024, 6, 1, 14, 0, 0, 123456000, zone)},
		{Key: "k", VersionID: "v1", Rank: 1, Size: 5 << 30, ETag: `"abc-3"`, StorageClass: "GLACIER",
			LastModified: time.Date(2024, 6, 1, 12, 30, 0, 0, zone)},
		{Key: "k", VersionID: "v0", Rank: 2}, // no time known
		{Key: "sp ace/ünï,\"q\"\n", VersionID: "null", IsLatest: true, Size: 1, ETag: "x", StorageClass: "STANDARD_IA",
			LastModified: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	h.scanVersions([]string{dest}, vs)
	got := h.rows("")
	want := []planner.Version{vs[2], vs[1], vs[0], vs[3]}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := norm(got[i]); g.Version != norm(newRow(0, dest, w)).Version {
			t.Errorf("row %d = %+v, want %+v", i, g.Version, w)
		}
	}
	if !got[0].LastModified.IsZero() {
		t.Errorf("a version listed without a time reads back at %v", got[0].LastModified)
	}
}

func scanDests(t *testing.T, h *harness) {
	vs := versions(listing{"a", []string{"v2", "v1"}}, listing{"b", []string{"v1"}})
	st := h.scanVersions([]string{"east", "west"}, vs)
	if st != (planner.ScanStats{Seen: 3, Added: 6}) {
		t.Errorf("stats = %+v, want 3 seen, 6 tasks added", st)
	}
	var order []string
	ids := map[int64]bool{}
	for _, r := range h.rows("") {
		order = append(order, r.Dest+":"+r.Key+"@"+r.VersionID)
		ids[r.ID] = true
	}
	if got, want := fmt.Sprint(order), "[east:a@v1 east:a@v2 east:b@v1 west:a@v1 west:a@v2 west:b@v1]"; got != want {
		t.Errorf("EachRow = %s, want %s", got, want)
	}
	if len(ids) != 6 {
		t.Errorf("%d distinct task ids, want 6", len(ids))
	}
	if st := h.scanVersions([]string{"east", "west"}, vs); st != (planner.ScanStats{Seen: 3}) {
		t.Errorf("rescan stats = %+v, want 3 seen, none added", st)
	}
}

func rescanKeeps(t *testing.T, h *harness) {
	ls := []listing{{"a", []string{"v3", "v2", "v1"}}, {"b", []string{"v1"}}, {"c", []string{"v1"}}}
	h.scan(ls...)
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "a@v3")
	h.plan(planner.Skip, planner.StatusSkipped, "b@v1")
	h.record(planner.StatusSucceeded, "a@v1")
	h.record(planner.StatusFailed, "a@v2")
	h.claim("a@v3") // in doubt
	if err := h.s.SaveVerifications(h.ctx, []planner.Verification{{TaskID: h.ids("a@v1")[0], Status: planner.VerifyOK, Message: "fine"}}); err != nil {
		t.Fatal(err)
	}
	before := h.rows("")

	if st := h.scan(ls...); st != (planner.ScanStats{Seen: 5, Added: 0}) {
		t.Errorf("rescan stats = %+v, want 5 seen, 0 added", st)
	}
	sameRows(t, "after a rescan", h.rows(""), before)
	if got, want := h.statuses(), "a@v1=succeeded a@v2=failed a@v3=copying b@v1=skipped c@v1=pending"; got != want {
		t.Errorf("statuses = %q, want %q", got, want)
	}
}

func rescanAdds(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v2", "v1"}}, listing{"m", []string{"v1"}})
	h.plan(planner.Copy, planner.StatusPending, "a@v1", "a@v2", "m@v1")
	h.record(planner.StatusSucceeded, "a@v2")

	// v3 is new; a key sorting first appears.
	st := h.scan(listing{"0first", []string{"x"}}, listing{"a", []string{"v3", "v2", "v1"}}, listing{"m", []string{"v1"}})
	if st != (planner.ScanStats{Seen: 5, Added: 2}) {
		t.Errorf("second scan stats = %+v, want 5 seen, 2 added", st)
	}
	if got, want := h.history(), "0first: x; a: v1 v2 v3; m: v1"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
	// Two more versions at once: they sort by their rank in that scan.
	st = h.scan(listing{"0first", []string{"x"}}, listing{"a", []string{"v5", "v4", "v3", "v2", "v1"}}, listing{"m", []string{"v1"}})
	if st != (planner.ScanStats{Seen: 7, Added: 2}) {
		t.Errorf("third scan stats = %+v, want 7 seen, 2 added", st)
	}
	if got, want := h.history(), "0first: x; a: v1 v2 v3 v4 v5; m: v1"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
	// Only is-latest was refreshed on the known versions.
	v2 := h.row("a", "v2")
	if v2.IsLatest || v2.Status != planner.StatusSucceeded || v2.Replica.VersionID != replicaID("a@v2") || v2.Action != planner.Copy {
		t.Errorf("a@v2 after rescans = %+v, want not latest, still succeeded with its plan", v2)
	}
	if v5 := h.row("a", "v5"); !v5.IsLatest || v5.Status != planner.StatusPending {
		t.Errorf("a@v5 = %+v, want latest and pending", v5)
	}
	for _, vid := range []string{"v3", "v4"} {
		if r := h.row("a", vid); r.IsLatest {
			t.Errorf("a@%s is still latest after a newer version was listed", vid)
		}
	}
}

func nullReplaced(t *testing.T, h *harness) {
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
			h := h.fresh(t)
			h.scanVersions([]string{dest}, first)
			if err := h.s.SavePlans(h.ctx, []planner.Plan{{TaskID: h.ids("k@null")[0], Inspection: fullInspection,
				Decision: fullDecision, Status: planner.StatusPending}}); err != nil {
				t.Fatal(err)
			}
			h.plan(planner.Copy, planner.StatusPending, "k@v1", "k@v2")
			h.record(planner.StatusSucceeded, "k@v1")
			nullID := h.ids("k@null")[0]
			if err := h.s.Claim(h.ctx, []int64{nullID}); err != nil {
				t.Fatal(err)
			}
			if err := h.s.Record(planner.Outcome{TaskID: nullID, Status: planner.StatusFailed, ErrorCode: "SlowDown", HTTPStatus: 503,
				Message: "throttled", Replica: planner.Replica{PartLayout: "source"}}); err != nil {
				t.Fatal(err)
			}
			if err := h.s.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := h.s.SaveVerifications(h.ctx, []planner.Verification{{TaskID: nullID, Status: planner.VerifyMismatch, Message: "old"}}); err != nil {
				t.Fatal(err)
			}
			h.record(planner.StatusFailed, "k@v2")
			if got, want := h.history(), "k: v1 null v2"; got != want {
				t.Fatalf("history after the first scan = %q, want %q", got, want)
			}
			old := h.row("k", "null")

			h.scanVersions([]string{dest}, tt.second)
			r := h.row("k", "null")
			if !tt.replaced {
				if got, want := h.history(), "k: v1 null v2"; got != want {
					t.Errorf("history = %q, want %q", got, want)
				}
				if norm(r) != norm(old) {
					t.Errorf("an unchanged null version changed:\nbefore %+v\nafter  %+v", old, r)
				}
				return
			}
			if got, want := h.history(), "k: v1 v2 null"; got != want {
				t.Errorf("history = %q, want %q (the replaced null version is the newest)", got, want)
			}
			// It reads back as a version just listed: its old plan and
			// outcome are gone, so that no copy runs on the old object's
			// plan and no report shows the old object's result.
			if want := newRow(r.ID, dest, tt.second[0]); norm(r) != want {
				t.Errorf("replaced null version\n got %+v\nwant %+v", norm(r), want)
			}
			if got, want := h.statuses(), "k@v1=succeeded k@v2=failed k@null=pending"; got != want {
				t.Errorf("statuses = %q, want %q", got, want)
			}
			if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "k todo=[v2] done=[v1]"; got != want {
				t.Errorf("NextWork = %q, want %q (the null version is unplanned)", got, want)
			}
			// It is planned again, and v2, now older than the pending
			// null version, is not held back by it.
			page, err := h.s.PlanPage(h.ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, p := range page {
				got[p.VersionID] = p.NewerReplicated
			}
			if fmt.Sprint(got) != "map[null:false v2:false]" {
				t.Errorf("PlanPage = %v, want null and v2, neither with a newer version replicated", got)
			}
		})
	}
}

// fullInspection and fullDecision set every field a plan has.
var (
	fullInspection = planner.Inspection{Inspected: true, Encryption: planner.SSEKMS, KMSKeyID: "arn:src", SSECKeyID: "ssec-1",
		BucketKey: true, ReplicationStatus: "FAILED", Checksum: planner.Checksum{Algorithm: "CRC32", Value: "NSRBwg==", Type: "FULL_OBJECT"},
		Archived: true}
	fullDecision = planner.Decision{Action: planner.Multipart, DestKey: "backup/k", ReplicaEncryption: planner.SSEKMS,
		ReplicaKMSKeyID: "arn:dst", ReplicaSSECKeyID: "ssec-2", ReplicaStorageClass: "STANDARD_IA", ReplicaBucketKey: true, RuleID: "rule-1"}
)

func nullAmongNew(t *testing.T, h *harness) {
	v := func(id string, rank int, etag string, hours int) planner.Version {
		return planner.Version{Key: "k", VersionID: id, Rank: rank, IsLatest: rank == 0, Size: 1, ETag: etag, LastModified: t0.Add(time.Duration(hours) * time.Hour)}
	}
	h.scanVersions([]string{dest}, []planner.Version{v("v3", 0, "e3", 4), v("v2", 1, "e2", 3), v("null", 2, "en", 2), v("v1", 3, "e1", 1)})
	if got, want := h.history(), "k: v1 null v2 v3"; got != want {
		t.Fatalf("history = %q, want %q", got, want)
	}
	st := h.scanVersions([]string{dest}, []planner.Version{v("null", 0, "en-2", 6), v("v4", 1, "e4", 5), v("v3", 2, "e3", 4), v("v2", 3, "e2", 3), v("v1", 4, "e1", 1)})
	if st != (planner.ScanStats{Seen: 5, Added: 1}) {
		t.Errorf("stats = %+v, want 5 seen, 1 added", st)
	}
	if got, want := h.history(), "k: v1 v2 v3 v4 null"; got != want {
		t.Errorf("history = %q, want %q", got, want)
	}
}

var errListing = errors.New("listing failed")

// failingScan records a listing of vs that fails after them.
func (h *harness) failingScan(vs []planner.Version) {
	h.t.Helper()
	_, err := h.s.RecordScan(h.ctx, []string{dest}, func(add func(planner.Version) error) error {
		for _, v := range vs {
			if err := add(v); err != nil {
				return err
			}
		}
		return errListing
	})
	if !errors.Is(err, errListing) {
		h.t.Fatalf("RecordScan of a failing listing = %v, want the listing's error", err)
	}
}

func failedListing(t *testing.T, h *harness) {
	h.failingScan(nil)
	if rows := h.rows(""); len(rows) != 0 {
		t.Errorf("a listing that failed before adding anything left %d rows", len(rows))
	}
	// Enough keys that a backend writing in batches has written some.
	var ls []listing
	for i := range 2500 {
		ls = append(ls, listing{fmt.Sprintf("k%04d", i), []string{"v1"}})
	}
	ls = append(ls, listing{"zz", []string{"v2", "v1"}}, listing{"zzz", []string{"v1"}})
	h.failingScan(versions(ls...))
	rows := h.rows("")
	if len(rows) < 2500 {
		t.Fatalf("%d rows after a listing of 2500 keys failed, want them all kept", len(rows))
	}
	for i, r := range rows[:2500] {
		if want := fmt.Sprintf("k%04d@v1", i); r.Key+"@"+r.VersionID != want {
			t.Fatalf("row %d is %s@%s, want %s", i, r.Key, r.VersionID, want)
		}
	}
	kept := len(rows)
	st := h.scan(ls...)
	if st.Seen != 2503 || st.Added != int64(2503-kept) {
		t.Errorf("rescan stats = %+v, want 2503 seen, %d added", st, 2503-kept)
	}
	if n := len(h.rows("")); n != 2503 {
		t.Errorf("%d rows after the rescan, want 2503", n)
	}
	if hist := h.history(); !strings.HasSuffix(hist, "; k2499: v1; zz: v1 v2; zzz: v1") {
		t.Errorf("history ends %q, want k2499: v1; zz: v1 v2; zzz: v1", hist[max(0, len(hist)-40):])
	}
}

func failedInsideKey(t *testing.T, h *harness) {
	full := []listing{{"a", []string{"v2", "v1"}}, {"b", []string{"v4", "v3", "v2", "v1"}}}
	// The listing fails after b's two newest versions: b's older ones
	// were never listed.
	h.failingScan(versions(full...)[:4])
	h.scan(full...)
	if got, want := h.history(), "a: v1 v2; b: v1 v2 v3 v4"; got != want {
		t.Errorf("history after the rescan = %q, want %q", got, want)
	}
	if got := h.rows(""); len(got) == 6 && !(got[5].IsLatest && !got[4].IsLatest) {
		t.Errorf("b's newest version is not the latest one: %+v", got[4:])
	}
}
