package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var rowPromises = []promise{
	{"EachRow visits every row once, by destination, key and oldest version first, across many pages", eachRowPages},
	{"EachRow with a status visits only the rows in it, across many pages", eachRowStatus},
	{"EachRow and NextWork order keys by their bytes, as S3 lists them", byteOrder},
	{"EachRow stops at fn's error and at a cancelled context", eachRowStops},
	{"EachRow lets fn write to the store, as verify does", eachRowWrites},
	{"Counts groups every task by destination, status, action and source encryption", counts},
	{"SaveVerifications shows in the rows until a new outcome", verifications},
}

// Enough rows for several pages of any backend that pages a few hundred
// keys or a few thousand rows at a time (checkpoint.DB: 500 keys): 1100
// keys with versions from two scans, and one key with 1200 versions.
const (
	pageKeys    = 1100
	bigVersions = 1200
	bigKey      = "key/0550+big"
)

// pagesFixture fills the store for the paging tests and returns, in
// EachRow order, "key@vid" of every row.
func (h *harness) pagesFixture() []string {
	h.t.Helper()
	key := func(i int) string { return fmt.Sprintf("key/%04d", i) }
	var big []string
	for i := bigVersions; i >= 1; i-- {
		big = append(big, fmt.Sprintf("b%04d", i))
	}
	var first, second []listing
	for i := range pageKeys {
		first = append(first, listing{key(i), []string{"v2", "v1"}})
		second = append(second, listing{key(i), []string{"v3", "v2", "v1"}})
		if key(i) == "key/0550" {
			first = append(first, listing{bigKey, big})
			second = append(second, listing{bigKey, big})
		}
	}
	h.scan(first...)
	if st := h.scan(second...); st.Added != pageKeys {
		h.t.Fatalf("second scan added %d, want %d", st.Added, pageKeys)
	}
	var want []string
	for i := range pageKeys {
		for _, v := range []string{"v1", "v2", "v3"} {
			want = append(want, key(i)+"@"+v)
		}
		if key(i) == "key/0550" {
			for j := range big {
				want = append(want, bigKey+"@"+big[len(big)-1-j])
			}
		}
	}
	return want
}

// eachRow renders EachRow's rows as "key@vid", checking each is visited
// once.
func (h *harness) eachRow(status planner.Status) []string {
	h.t.Helper()
	var got []string
	seen := map[int64]bool{}
	for _, r := range h.rows(status) {
		if seen[r.ID] {
			h.t.Fatalf("EachRow(%q) visited row %d (%s@%s) twice", status, r.ID, r.Key, r.VersionID)
		}
		seen[r.ID] = true
		if status != "" && r.Status != status {
			h.t.Errorf("EachRow(%q) visited %s@%s, which is %s", status, r.Key, r.VersionID, r.Status)
		}
		got = append(got, r.Key+"@"+r.VersionID)
	}
	return got
}

// sameList reports the first difference between two lists.
func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: item %d is %s, want %s", what, i, got[i], want[i])
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d items, want %d", what, len(got), len(want))
	}
}

func eachRowPages(t *testing.T, h *harness) {
	if got := h.eachRow(""); len(got) != 0 {
		t.Errorf("EachRow of a new store visited %d rows", len(got))
	}
	want := h.pagesFixture()
	sameList(t, "EachRow", h.eachRow(""), want)
	// One more key, last: a short last page.
	vs := versions(listing{"zzz", []string{"only"}})
	h.scanVersions([]string{dest}, vs)
	sameList(t, "EachRow with one more key", h.eachRow(""), append(want, "zzz@only"))
	// Destinations come one after the other.
	h.scanVersions([]string{"a-first", "z-last"}, versions(listing{"k", []string{"v2", "v1"}}))
	var dests, order []string
	for _, r := range h.rows("") {
		if len(dests) == 0 || dests[len(dests)-1] != r.Dest {
			dests = append(dests, r.Dest)
		}
		if r.Dest != dest {
			order = append(order, r.Dest+":"+r.Key+"@"+r.VersionID)
		}
	}
	if fmt.Sprint(dests) != "[a-first dst z-last]" {
		t.Errorf("EachRow visits the destinations in the order %v, want [a-first dst z-last]", dests)
	}
	if fmt.Sprint(order) != "[a-first:k@v1 a-first:k@v2 z-last:k@v1 z-last:k@v2]" {
		t.Errorf("rows of the other destinations, in order: %v", order)
	}
}

func eachRowStatus(t *testing.T, h *harness) {
	all := h.pagesFixture()
	var plans []planner.Plan
	var failed, skipped, pending []string
	for i, r := range h.rows("") {
		v := all[i]
		p := planner.Plan{TaskID: r.ID, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusFailed}
		switch {
		case r.Key == bigKey && r.VersionID[len(r.VersionID)-1]%2 == 0:
			pending = append(pending, v)
			continue
		case r.VersionID == "v3":
			p.Status = planner.StatusSkipped
			skipped = append(skipped, v)
		default:
			failed = append(failed, v)
		}
		plans = append(plans, p)
	}
	if err := h.s.SavePlans(h.ctx, plans); err != nil {
		t.Fatal(err)
	}
	sameList(t, "EachRow(failed)", h.eachRow(planner.StatusFailed), failed)
	sameList(t, "EachRow(skipped)", h.eachRow(planner.StatusSkipped), skipped)
	sameList(t, "EachRow(pending)", h.eachRow(planner.StatusPending), pending)
	sameList(t, "EachRow(succeeded)", h.eachRow(planner.StatusSucceeded), nil)
	sameList(t, "EachRow(copying)", h.eachRow(planner.StatusCopying), nil)

	h2 := h.fresh(t)
	h2.workFixture()
	sameList(t, "EachRow(failed) of the work fixture", h2.eachRow(planner.StatusFailed), []string{"a@v4", "e@v1"})
	sameList(t, "EachRow(copying) of the work fixture", h2.eachRow(planner.StatusCopying), []string{"f@v2"})
	sameList(t, "EachRow(succeeded) of the work fixture", h2.eachRow(planner.StatusSucceeded), []string{"a@v1", "f@v1"})
	if n := len(h2.eachRow("")); n != 12 {
		t.Errorf("EachRow of the work fixture: %d rows, want 12", n)
	}
}

func eachRowStops(t *testing.T, h *harness) {
	h.workFixture()
	stop := errors.New("stop")
	calls := 0
	err := h.s.EachRow(h.ctx, "", func(planner.Row) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("EachRow = %v after %d calls, want fn's error after 3", err, calls)
	}
	cancelled, cancel := context.WithCancel(h.ctx)
	cancel()
	calls = 0
	err = h.s.EachRow(cancelled, "", func(planner.Row) error { calls++; return nil })
	if !errors.Is(err, context.Canceled) || calls == 12 {
		t.Errorf("EachRow on a cancelled context = %v after %d calls, want context.Canceled", err, calls)
	}
}

func eachRowWrites(t *testing.T, h *harness) {
	var ls []listing
	for i := range pageKeys {
		ls = append(ls, listing{fmt.Sprintf("key/%04d", i), []string{"v1"}})
	}
	h.scan(ls...)
	seen := 0
	err := h.s.EachRow(h.ctx, planner.StatusPending, func(r planner.Row) error {
		seen++
		return h.s.SaveVerifications(h.ctx, []planner.Verification{{TaskID: r.ID, Status: planner.VerifyOK, Message: r.Key}})
	})
	if err != nil || seen != pageKeys {
		t.Fatalf("EachRow writing from fn = %v after %d rows, want %d rows", err, seen, pageKeys)
	}
	for _, r := range h.rows("") {
		if r.Verify != (planner.Verification{TaskID: r.ID, Status: planner.VerifyOK, Message: r.Key}) {
			t.Fatalf("%s: verify %+v, want the one saved from fn", r.Key, r.Verify)
		}
	}
}

func counts(t *testing.T, h *harness) {
	if c, err := h.s.Counts(h.ctx); err != nil || len(c) != 0 {
		t.Fatalf("Counts of a new store = %v, %v", c, err)
	}
	h.scanVersions([]string{dest}, []planner.Version{
		{Key: "k1", VersionID: "v2", Rank: 0, IsLatest: true, Size: 200},
		{Key: "k1", VersionID: "v1", Rank: 1, Size: 100},
		{Key: "k2", VersionID: "dm", Rank: 0, IsLatest: true, DeleteMarker: true},
		{Key: "k3", VersionID: "v1", Rank: 0, IsLatest: true, Size: 3},
		{Key: "k4", VersionID: "v1", Rank: 0, IsLatest: true, Size: 4000},
		{Key: "k5", VersionID: "v1", Rank: 0, IsLatest: true, Size: 50000},
		{Key: "k6", VersionID: "v1", Rank: 0, IsLatest: true, Size: 7},
		{Key: "k7", VersionID: "v1", Rank: 0, IsLatest: true, Size: 9},
	})
	h.scanVersions([]string{"east"}, []planner.Version{{Key: "k1", VersionID: "v2", IsLatest: true, Size: 200}})
	id := func(v string) int64 { return h.ids(v)[0] }
	kms := planner.Inspection{Inspected: true, Encryption: planner.SSEKMS}
	if err := h.s.SavePlans(h.ctx, []planner.Plan{
		{TaskID: id("k1@v1"), Inspection: kms, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusPending},
		{TaskID: id("k1@v2"), Inspection: kms, Decision: planner.Decision{Action: planner.Copy}, Status: planner.StatusPending},
		{TaskID: id("k2@dm"), Inspection: planner.Inspection{Inspected: true}, Decision: planner.Decision{Action: planner.ReplayDelete}, Status: planner.StatusPending},
		{TaskID: id("k4@v1"), Inspection: planner.Inspection{Inspected: true, Encryption: planner.SSEC},
			Decision: planner.Decision{Action: planner.Fail, ErrorCode: planner.CodeSSECKeyNotFound}, Status: planner.StatusFailed},
		{TaskID: id("k5@v1"), Inspection: kms, Decision: planner.Decision{Action: planner.Skip}, Status: planner.StatusSkipped},
		{TaskID: id("k7@v1"), Inspection: planner.Inspection{Inspected: true, Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}, Status: planner.StatusPending},
		// k3 and k6 stay unplanned.
	}); err != nil {
		t.Fatal(err)
	}
	h.record(planner.StatusSucceeded, "k1@v1")
	h.claim("k7@v1")

	got, err := h.s.Counts(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := func(c planner.Count) string {
		return fmt.Sprint(c.Dest, "\x00", c.Status, "\x00", c.Action, "\x00", c.Encryption)
	}
	sort.Slice(got, func(i, j int) bool { return key(got[i]) < key(got[j]) })
	want := []planner.Count{
		{Dest: dest, Status: planner.StatusCopying, Action: planner.Multipart, Encryption: "NOT-SSE", Rows: 1, Bytes: 9},
		{Dest: dest, Status: planner.StatusFailed, Action: planner.Fail, Encryption: "SSE-C", Rows: 1, Bytes: 4000},
		{Dest: dest, Status: planner.StatusPending, Action: "", Encryption: "UNINSPECTED", Rows: 2, Bytes: 10},
		{Dest: dest, Status: planner.StatusPending, Action: planner.Copy, Encryption: "SSE-KMS", Rows: 1, Bytes: 200},
		{Dest: dest, Status: planner.StatusPending, Action: planner.ReplayDelete, Encryption: "DELETE-MARKER", Rows: 1, Bytes: 0},
		{Dest: dest, Status: planner.StatusSkipped, Action: planner.Skip, Encryption: "SSE-KMS", Rows: 1, Bytes: 50000},
		{Dest: dest, Status: planner.StatusSucceeded, Action: planner.Copy, Encryption: "SSE-KMS", Rows: 1, Bytes: 100},
		{Dest: "east", Status: planner.StatusPending, Action: "", Encryption: "UNINSPECTED", Rows: 1, Bytes: 200},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counts =\n%+v\nwant\n%+v", got, want)
	}
}

func verifications(t *testing.T, h *harness) {
	h.scan(listing{"k", []string{"v3", "v2", "v1"}})
	h.plan(planner.Copy, planner.StatusPending, "k@v1", "k@v2", "k@v3")
	h.record(planner.StatusSucceeded, "k@v1", "k@v2", "k@v3")
	ids := h.ids("k@v1", "k@v2", "k@v3")
	if err := h.s.SaveVerifications(h.ctx, nil); err != nil {
		t.Errorf("SaveVerifications(nil) = %v", err)
	}
	vs := []planner.Verification{
		{TaskID: ids[0], Status: planner.VerifyOK, Message: "size checked"},
		{TaskID: ids[1], Status: planner.VerifyMismatch, Message: "replica is 3 bytes, source 4"},
	}
	if err := h.s.SaveVerifications(h.ctx, vs); err != nil {
		t.Fatal(err)
	}
	h.crash()
	check := func(what string, want ...planner.Verification) {
		t.Helper()
		for i, r := range h.rows("") {
			if w := want[i]; r.Verify != w && !(w.Status == "" && w.Message == "" && r.Verify.Status == "" && r.Verify.Message == "") {
				t.Errorf("%s: %s@%s verify = %+v, want %+v", what, r.Key, r.VersionID, r.Verify, w)
			}
		}
	}
	check("after SaveVerifications and a crash", vs[0], vs[1], planner.Verification{})
	// Verify again: the last result replaces the first.
	vs[1] = planner.Verification{TaskID: ids[1], Status: planner.VerifyOK, Message: "fixed"}
	if err := h.s.SaveVerifications(h.ctx, vs[1:]); err != nil {
		t.Fatal(err)
	}
	check("verified again", vs[0], vs[1], planner.Verification{})
	// A new copy made a new replica: its last verification is gone.
	h.record(planner.StatusSucceeded, "k@v2")
	check("after a new outcome", vs[0], planner.Verification{}, planner.Verification{})
}

// byteOrder: keys in S3's order (UTF-8 bytes), which no locale's collation
// keeps: upper case before lower, punctuation by its code, accents last.
func byteOrder(t *testing.T, h *harness) {
	keys := []string{"B", "a", "_x", "a b", "a-b", "ab", "Z", "é", "z", "~", "1"}
	var ls []listing
	for _, k := range keys {
		ls = append(ls, listing{k, []string{"v1"}})
	}
	sort.Strings(keys) // Go compares strings by their bytes
	h.scan(ls...)
	var got []string
	for _, r := range h.rows("") {
		got = append(got, r.Key)
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("EachRow keys = %q, want %q", got, keys)
	}
	var vs []string
	for _, k := range keys {
		vs = append(vs, k+"@v1")
	}
	h.plan(planner.Copy, planner.StatusPending, vs...)
	got = got[:0]
	for _, w := range h.nextWork(planner.KeyCursor{}, 100) {
		got = append(got, w.Key)
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("NextWork keys = %q, want %q", got, keys)
	}
}
