package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// dest is the destination bucket of single-destination tests.
const dest = "dst"

// t0 is the time of the newest listed versions: microseconds, the finest
// precision the suite asks a backend to keep.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

// listing is what a scan lists for one key: version ids newest first.
type listing struct {
	key string
	ids []string
}

// ver is the version a listing gives for the rank-th newest version.
func ver(key, id string, rank int) planner.Version {
	return planner.Version{Key: key, VersionID: id, Rank: rank, IsLatest: rank == 0, Size: int64(len(key) + len(id)),
		ETag: `"etag-` + id + `"`, LastModified: t0.Add(-time.Duration(rank) * time.Hour), StorageClass: "STANDARD"}
}

// versions is the listing order of ls.
func versions(ls ...listing) []planner.Version {
	var vs []planner.Version
	for _, l := range ls {
		for rank, id := range l.ids {
			vs = append(vs, ver(l.key, id, rank))
		}
	}
	return vs
}

// scanVersions records one complete listing of vs for dests.
func (h *harness) scanVersions(dests []string, vs []planner.Version) planner.ScanStats {
	h.t.Helper()
	st, err := h.s.RecordScan(h.ctx, dests, func(add func(planner.Version) error) error {
		for _, v := range vs {
			if err := add(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("RecordScan: %v", err)
	}
	return st
}

// scan records one complete listing for the destination dest.
func (h *harness) scan(ls ...listing) planner.ScanStats {
	h.t.Helper()
	return h.scanVersions([]string{dest}, versions(ls...))
}

// rows returns EachRow's rows (with a status, the rows in it).
func (h *harness) rows(status planner.Status) []planner.Row {
	h.t.Helper()
	var out []planner.Row
	if err := h.s.EachRow(h.ctx, status, func(r planner.Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		h.t.Fatalf("EachRow(%q): %v", status, err)
	}
	return out
}

// rowIn is the row of a version for destination d.
func (h *harness) rowIn(d, key, vid string) planner.Row {
	h.t.Helper()
	for _, r := range h.rows("") {
		if r.Dest == d && r.Key == key && r.VersionID == vid {
			return r
		}
	}
	h.t.Fatalf("no row %s:%s@%s", d, key, vid)
	return planner.Row{}
}

// row is the row of a version for dest.
func (h *harness) row(key, vid string) planner.Row {
	h.t.Helper()
	return h.rowIn(dest, key, vid)
}

// split cuts "key@vid".
func split(t *testing.T, v string) (key, vid string) {
	t.Helper()
	key, vid, ok := strings.Cut(v, "@")
	if !ok {
		t.Fatalf("bad version %q", v)
	}
	return key, vid
}

// ids returns the task ids of versions given as "key@vid", for dest.
func (h *harness) ids(vs ...string) []int64 {
	h.t.Helper()
	var out []int64
	for _, v := range vs {
		key, vid := split(h.t, v)
		out = append(out, h.row(key, vid).ID)
	}
	return out
}

// plan saves a plan with that action and status for the versions.
func (h *harness) plan(action planner.Action, status planner.Status, vs ...string) {
	h.t.Helper()
	var plans []planner.Plan
	for i, id := range h.ids(vs...) {
		key, _ := split(h.t, vs[i])
		plans = append(plans, planner.Plan{TaskID: id,
			Inspection: planner.Inspection{Inspected: true, Encryption: planner.SSES3},
			Decision:   planner.Decision{Action: action, DestKey: "dst/" + key, ReplicaEncryption: planner.SSES3},
			Status:     status})
	}
	if err := h.s.SavePlans(h.ctx, plans); err != nil {
		h.t.Fatalf("SavePlans: %v", err)
	}
}

// claim claims the versions.
func (h *harness) claim(vs ...string) {
	h.t.Helper()
	if err := h.s.Claim(h.ctx, h.ids(vs...)); err != nil {
		h.t.Fatalf("Claim: %v", err)
	}
}

// replicaID is the destination version id record gives a version.
func replicaID(v string) string { return "dst-" + v }

// record claims the versions, records an outcome with that status for
// each (a succeeded one made replica replicaID("key@vid")) and flushes.
func (h *harness) record(status planner.Status, vs ...string) {
	h.t.Helper()
	ids := h.ids(vs...)
	if err := h.s.Claim(h.ctx, ids); err != nil {
		h.t.Fatalf("Claim: %v", err)
	}
	for i, id := range ids {
		o := planner.Outcome{TaskID: id, Status: status}
		if status == planner.StatusSucceeded {
			o.Replica.VersionID = replicaID(vs[i])
		}
		if err := h.s.Record(o); err != nil {
			h.t.Fatalf("Record: %v", err)
		}
	}
	if err := h.s.Flush(); err != nil {
		h.t.Fatalf("Flush: %v", err)
	}
}

// history renders dest's keys with their versions in EachRow order,
// oldest first: "a: v1 v2 v3; b: v1".
func (h *harness) history() string {
	h.t.Helper()
	return History(h.rows(""), dest)
}

// History renders the keys of rows for one destination ("" = every row)
// with their versions, in the order of rows: "a: v1 v2 v3; b: v1".
func History(rows []planner.Row, dest string) string {
	var b strings.Builder
	last := ""
	for _, r := range rows {
		if dest != "" && r.Dest != dest {
			continue
		}
		switch {
		case last == "":
			fmt.Fprintf(&b, "%s: %s", r.Key, r.VersionID)
		case r.Key != last:
			fmt.Fprintf(&b, "; %s: %s", r.Key, r.VersionID)
		default:
			fmt.Fprintf(&b, " %s", r.VersionID)
		}
		last = r.Key
	}
	return b.String()
}

// statuses renders "key@vid=status" for every row, in EachRow order.
func (h *harness) statuses() string {
	h.t.Helper()
	var parts []string
	for _, r := range h.rows("") {
		parts = append(parts, fmt.Sprintf("%s@%s=%s", r.Key, r.VersionID, r.Status))
	}
	return strings.Join(parts, " ")
}

// nextWork calls NextWork.
func (h *harness) nextWork(after planner.KeyCursor, limit int) []planner.KeyWork {
	h.t.Helper()
	work, err := h.s.NextWork(h.ctx, after, limit)
	if err != nil {
		h.t.Fatalf("NextWork(%+v, %d): %v", after, limit, err)
	}
	return work
}

// workString renders NextWork's answer: "a todo=[v2 v4] done=[v1]", with
// " in-doubt" when a task is claimed and " upload" when one has an upload.
// Replicas made by record are named by their version.
func workString(work []planner.KeyWork) string {
	var parts []string
	for _, w := range work {
		var todo, done []string
		inDoubt, upload := false, false
		for _, t := range w.Tasks {
			if t.Key != w.Key || t.Dest != w.Dest {
				return fmt.Sprintf("task %s:%s@%s listed under %s:%s", t.Dest, t.Key, t.VersionID, w.Dest, w.Key)
			}
			todo = append(todo, t.VersionID)
			inDoubt = inDoubt || t.InDoubt()
			upload = upload || t.HasUpload
		}
		for _, id := range w.Replicas {
			done = append(done, strings.TrimPrefix(id, replicaID(w.Key+"@")))
		}
		s := fmt.Sprintf("%s todo=[%s] done=[%s]", w.Key, strings.Join(todo, " "), strings.Join(done, " "))
		if w.Dest != dest {
			s = w.Dest + ":" + s
		}
		if inDoubt {
			s += " in-doubt"
		}
		if upload {
			s += " upload"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// norm makes rows comparable with ==: times in UTC, the listing rank
// (listing data, not kept) zero, and an empty verification without its
// task id.
func norm(r planner.Row) planner.Row {
	r.LastModified = r.LastModified.UTC()
	r.ClaimedAt = r.ClaimedAt.UTC()
	r.Rank = 0
	r.Known = nil // what a scan was given; read back as the inspection
	if r.Verify.Status == "" && r.Verify.Message == "" {
		r.Verify.TaskID = 0
	}
	return r
}

// newRow is how a version just listed reads back: pending, unplanned.
func newRow(id int64, d string, v planner.Version) planner.Row {
	return norm(planner.Row{Task: planner.Task{ID: id, Dest: d, Version: v, Status: planner.StatusPending}})
}

// sameRows reports the rows of got that differ from want, both normed.
func sameRows(t *testing.T, what string, got, want []planner.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if g, w := norm(got[i]), norm(want[i]); g != w {
			t.Errorf("%s: row %d differs:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// clock brackets the times a store stamps: [start, now] with a second of
// slack for backends that keep times coarser or take them elsewhere.
type clock struct{ start time.Time }

func startClock() clock { return clock{start: time.Now()} }

// check reports got unless it lies within the bracket.
func (c clock) check(t *testing.T, what string, got time.Time) {
	t.Helper()
	from, to := c.start.Add(-time.Second), time.Now().Add(time.Second)
	if got.Before(from) || got.After(to) {
		t.Errorf("%s = %v, want a time between %v and %v", what, got, c.start, time.Now())
	}
}
