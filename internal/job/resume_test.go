package job_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// TestCopyResumesAfterInterrupt: a copy run cancelled after its second
// CopyObject leaves the checkpoint consistent (what landed succeeded, the
// rest pending, nothing in doubt); the next run, in a new process, copies
// the rest, and no version is copied twice or out of order.
func TestCopyResumesAfterInterrupt(t *testing.T) {
	f := newFake(t)
	data := map[string][]byte{}
	for _, v := range []struct{ key, vid, body string }{
		{"data/a.txt", "a1", "a-one"}, {"data/a.txt", "a2", "a-two"}, {"data/a.txt", "a3", "a-three"},
		{"data/b.txt", "b1", "b-one"}, {"data/b.txt", "b2", "b-two"},
	} {
		data[v.key+"@"+v.vid] = put(f, v.key, v.vid, []byte(v.body), nil)
	}
	spec := testSpec(f, "data", "backup")
	spec.Workers = 1 // keys one at a time: the interruption falls inside a.txt
	e := openEnv(t, f, spec, options{})
	e.scanPlan(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	copies := 0
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" {
			mu.Lock()
			copies++
			if copies == 2 {
				cancel() // Ctrl-C while the second copy is in flight
			}
			mu.Unlock()
		}
		return nil
	})
	err := e.job.Copy(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Copy returned %v, want context.Canceled", err)
	}
	f.SetHook(nil)

	e.reopen(t) // what the interrupted run recorded is durable
	status := map[string]planner.Status{}
	for _, r := range e.rows(t) {
		status[r.Key+"@"+r.VersionID] = r.Status
		if r.Status == planner.StatusSucceeded && r.Replica.VersionID == "" {
			t.Errorf("%s@%s succeeded without a replica version", r.Key, r.VersionID)
		}
	}
	wantStatus := map[string]planner.Status{
		"data/a.txt@a1": planner.StatusSucceeded, "data/a.txt@a2": planner.StatusSucceeded,
		"data/a.txt@a3": planner.StatusPending, "data/b.txt@b1": planner.StatusPending, "data/b.txt@b2": planner.StatusPending,
	}
	for kv, want := range wantStatus {
		if status[kv] != want {
			t.Errorf("after the interruption %s is %q, want %q (in flight finished, claimed but unstarted released)", kv, status[kv], want)
		}
	}
	if n := len(f.Ops("CopyObject")); n != 2 {
		t.Errorf("%d CopyObject before the run stopped, want 2 (no new copy after Ctrl-C)", n)
	}

	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("resumed Copy: %v", err)
	}
	want := map[string]int{}
	for kv := range data {
		want[kv] = 1
	}
	if got := copyObjects(f); !maps.Equal(got, want) {
		t.Errorf("CopyObject by version over both runs: %v\nwant one each %v", got, want)
	}
	rows := byVersion(e.rows(t))
	for _, c := range []struct {
		destKey string
		order   []string
	}{{"backup/a.txt", []string{"a1", "a2", "a3"}}, {"backup/b.txt", []string{"b1", "b2"}}} {
		got := replicas(f, c.destKey)
		if len(got) != len(c.order) {
			t.Errorf("%s: %d replica versions, want %d", c.destKey, len(got), len(c.order))
			continue
		}
		srcKey := "data/" + strings.TrimPrefix(c.destKey, "backup/")
		for i, vid := range c.order {
			r := rows[srcKey+"@"+vid]
			if r.Status != planner.StatusSucceeded || got[i].VersionID != r.Replica.VersionID || !bytes.Equal(got[i].Data, data[srcKey+"@"+vid]) {
				t.Errorf("%s version %d: %s holding %q; want the replica of %s (%s, recorded %s)",
					c.destKey, i, got[i].VersionID, got[i].Data, vid, r.Status, r.Replica.VersionID)
			}
		}
	}
}

// TestInDoubtReconciled: tasks a run claimed and never settled are checked
// against the destination: a replica made after the claim that matches is
// adopted without a second copy; no replica, one older than the claim, one
// with other bytes, or only the replica of an older version already
// recorded means the version is copied.
func TestInDoubtReconciled(t *testing.T) {
	f := newFake(t)
	spec := testSpec(f, "data", "backup")
	spec.DeleteMarkers = true
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	// f1 is replicated by an earlier run; f2, with the same bytes, is in
	// doubt with nothing made: f1's replica is not f2's.
	put(f, "data/f.txt", "f1", []byte("same!"), nil)
	e.run(t)
	put(f, "data/f.txt", "f2", []byte("same!"), nil)
	put(f, "data/a.txt", "a1", []byte("alpha"), nil)
	put(f, "data/b.txt", "b1", []byte("bravo"), nil)
	put(f, "data/c.txt", "c1", []byte("charlie"), nil)
	put(f, "data/d.txt", "d1", []byte("delta"), nil)
	put(f, "data/s.txt", "s1", []byte("sierra"), keyA.Header())
	put(f, "data/gone", "g1", []byte("golf"), nil)
	f.Put(srcBucket, "data/gone", s3fake.Object{VersionID: "gdm", DeleteMarker: true})
	e.scanPlan(t)

	// A run claims every task, then dies before recording anything.
	var ids []int64
	for _, r := range e.rows(t) {
		if r.Status == planner.StatusPending {
			ids = append(ids, r.ID)
		}
	}
	if err := e.db.Claim(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	// What it made on the destination before it died.
	adoptA := f.Put(dstBucket, "backup/a.txt", s3fake.Object{Data: []byte("alpha")})
	f.Put(dstBucket, "backup/c.txt", s3fake.Object{Data: []byte("charlie"), LastModified: time.Now().Add(-time.Hour)})
	f.Put(dstBucket, "backup/d.txt", s3fake.Object{Data: []byte("DELTA")}) // same size, other bytes
	adoptS := f.Put(dstBucket, "backup/s.txt", s3fake.Object{Data: []byte("sierra"), Header: keyR.Header()})
	adoptG := f.Put(dstBucket, "backup/gone", s3fake.Object{Data: []byte("golf")})
	adoptDM := f.Put(dstBucket, "backup/gone", s3fake.Object{DeleteMarker: true})
	e.reopen(t)
	for _, r := range e.rows(t) {
		if !r.InDoubt() && r.VersionID != "f1" {
			t.Fatalf("%s@%s is %s after the claim, want in doubt", r.Key, r.VersionID, r.Status)
		}
	}

	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	rows := byVersion(e.rows(t))
	for kv, replica := range map[string]string{"data/a.txt@a1": adoptA, "data/s.txt@s1": adoptS, "data/gone@g1": adoptG, "data/gone@gdm": adoptDM} {
		r := rows[kv]
		if r.Status != planner.StatusSucceeded || r.Replica.VersionID != replica || !strings.Contains(r.Message, "interrupted run") {
			t.Errorf("%s: %s, replica %q, %q; want adopted: succeeded, replica %s, said to be made by an interrupted run",
				kv, r.Status, r.Replica.VersionID, r.Message, replica)
		}
	}
	if r := rows["data/s.txt@s1"]; r.Replica.Encryption != planner.SSEC {
		t.Errorf("adopted SSE-C replica read back as %q, want SSE-C (HEAD with key-r)", r.Replica.Encryption)
	}
	want := map[string]int{"data/b.txt@b1": 1, "data/c.txt@c1": 1, "data/d.txt@d1": 1, "data/f.txt@f1": 1, "data/f.txt@f2": 1}
	if got := copyObjects(f); !maps.Equal(got, want) {
		t.Errorf("CopyObject by version: %v\nwant %v (adopted versions are not copied again)", got, want)
	}
	if n := len(f.Ops("DeleteObject")); n != 0 {
		t.Errorf("%d DeleteObject: the delete marker made by the interrupted run was replayed again", n)
	}
	for key, n := range map[string]int{"backup/a.txt": 1, "backup/b.txt": 1, "backup/c.txt": 2, "backup/d.txt": 2, "backup/s.txt": 1, "backup/gone": 2, "backup/f.txt": 2} {
		if got := len(f.Versions(dstBucket, key)); got != n {
			t.Errorf("%s: %d destination versions, want %d", key, got, n)
		}
	}
	for _, kv := range []string{"data/b.txt@b1", "data/c.txt@c1", "data/d.txt@d1", "data/f.txt@f2"} {
		r := rows[kv]
		destKey := "backup/" + strings.TrimSuffix(strings.TrimPrefix(kv, "data/"), "@"+r.VersionID)
		newest := f.Versions(dstBucket, destKey)[0]
		if r.Status != planner.StatusSucceeded || r.Replica.VersionID != newest.VersionID {
			t.Errorf("%s: %s, replica %q; want succeeded with the new copy %s", kv, r.Status, r.Replica.VersionID, newest.VersionID)
		}
	}
	for _, r := range f.Ops("ListObjectVersions") {
		if r.Bucket == dstBucket && r.Client != dstClient {
			t.Errorf("destination listed by %s", r.Client)
		}
	}
}

// losingStore is a checkpoint that loses every outcome, as a process that
// dies before its outcomes are committed: claimed tasks stay in doubt.
type losingStore struct{ *checkpoint.DB }

func (losingStore) Record(planner.Outcome) error { return nil }
func (losingStore) Flush() error                 { return nil }

// TestInDoubtAfterLostOutcomes: a run that copied everything and lost every
// outcome (a crash before they were committed) leaves all in doubt; the
// next run adopts every replica, server-side copies, multipart and delete
// markers alike, and sends no write at all.
func TestInDoubtAfterLostOutcomes(t *testing.T) {
	f := newFake(t)
	data := seedCopy(f)
	path := t.TempDir() + "/job.db"
	crashed := openEnv(t, f, copySpec(f), options{keys: testRing(t), path: path,
		store: func(db *checkpoint.DB) job.Store { return losingStore{db} }})
	crashed.run(t)
	crashed.close(t)
	made := map[string]int{}
	for _, key := range []string{"backup/a.txt", "backup/s3.txt", "backup/kms.txt", "backup/ssec-a.txt", "backup/gone", "backup/mp.bin", "backup/large.bin"} {
		made[key] = len(f.Versions(dstBucket, key))
	}
	if made["backup/a.txt"] != 3 || made["backup/gone"] != 2 {
		t.Fatalf("the first run made %v", made)
	}

	e := openEnv(t, f, copySpec(f), options{keys: testRing(t), path: path})
	inDoubt := 0
	for _, r := range e.rows(t) {
		if r.InDoubt() {
			inDoubt++
		}
	}
	if inDoubt != 10 {
		t.Fatalf("%d tasks in doubt after the lost outcomes, want the 10 copied", inDoubt)
	}
	before := len(f.Requests())
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	for _, r := range workOps(f.Requests()[before:]) {
		if r.Method != "GET" && r.Method != "HEAD" {
			t.Errorf("reconciling sent %s %s/%s: every replica was there to adopt", r.Op, r.Bucket, r.Key)
		}
	}
	for key, n := range made {
		if got := len(f.Versions(dstBucket, key)); got != n {
			t.Errorf("%s: %d destination versions after reconciling, want still %d", key, got, n)
		}
	}
	for _, r := range e.rows(t) {
		if r.Key == "data/ssec-x.txt" {
			continue
		}
		vs := replicas(f, r.DestKey)
		found := false
		for _, v := range vs {
			if v.VersionID == r.Replica.VersionID && (r.DeleteMarker || bytes.Equal(v.Data, data[r.Key+"@"+r.VersionID])) {
				found = true
			}
		}
		if r.Status != planner.StatusSucceeded || !found {
			t.Errorf("%s@%s: %s, replica %q; want adopted, with the destination version that holds its bytes",
				r.Key, r.VersionID, r.Status, r.Replica.VersionID)
		}
	}
	// Adopted in order: the oldest version gets the oldest replica.
	a := replicas(f, "backup/a.txt")
	rows := byVersion(e.rows(t))
	for i, vid := range []string{"a1", "a2", "a3"} {
		if rows["data/a.txt@"+vid].Replica.VersionID != a[i].VersionID {
			t.Errorf("a.txt@%s adopted %s, want %s", vid, rows["data/a.txt@"+vid].Replica.VersionID, a[i].VersionID)
		}
	}
}
