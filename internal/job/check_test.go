package job_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// TestCheckBeforeCopy: the checks find what would make every copy fail
// (a missing destination, one that blocks SSE-C) as a PreflightError that
// names it, and log what only spoils the history (an unversioned
// destination) as a warning. Without the probe nothing is written.
func TestCheckBeforeCopy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dst     func(*s3fake.Server)
		problem string // in the PreflightError; "" = none
		warning string // in the log
	}{
		{name: "ready", dst: func(f *s3fake.Server) { f.CreateBucket(dstBucket, true) }},
		{name: "missing destination", dst: func(*s3fake.Server) {}, problem: `destination bucket "dst" does not exist`},
		{name: "unversioned destination", dst: func(f *s3fake.Server) { f.CreateBucket(dstBucket, false) },
			warning: `versioning of destination bucket \"dst\" is never enabled`},
		{name: "destination blocks SSE-C", dst: func(f *s3fake.Server) {
			f.CreateBucket(dstBucket, true, s3fake.Encryption(`<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>`+
				`</ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule>`))
		}, problem: `destination bucket "dst" blocks SSE-C writes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := s3fake.New(t)
			f.CreateBucket(srcBucket, true)
			tc.dst(f)
			e := openEnv(t, f, testSpec(f, "data", "backup"), options{keys: testRing(t)})
			err := e.job.CheckBeforeCopy(context.Background(), false)
			var pe job.PreflightError
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("CheckBeforeCopy: %v, want no problem", err)
			case tc.problem != "" && (!errors.As(err, &pe) || len(pe.Problems) != 1 || !strings.Contains(pe.Problems[0], tc.problem)):
				t.Fatalf("CheckBeforeCopy: %v, want a PreflightError with the one problem %q", err, tc.problem)
			}
			if logs := e.logs.String(); tc.warning != "" && !strings.Contains(logs, tc.warning) {
				t.Errorf("log %q, want the warning %q", logs, tc.warning)
			}
			for _, r := range f.Requests() {
				if r.Method != "GET" && r.Method != "HEAD" {
					t.Errorf("the checks sent %s without the probe", r.Op)
				}
			}
		})
	}
}

// TestCheckProbesKMSKey: with the probe, each replica KMS key is tried by
// writing an object under it, which is removed again.
func TestCheckProbesKMSKey(t *testing.T) {
	f := newFake(t)
	spec := testSpec(f, "data", "backup")
	spec.ReplicateKMS, spec.ReplicaKMSKeyID = true, replicaKMSKey
	e := openEnv(t, f, spec, options{})
	findings, err := e.job.Check(context.Background(), true)
	if err != nil || len(findings) != 0 {
		t.Fatalf("Check = %+v, %v; want nothing found", findings, err)
	}
	puts := f.Ops("PutObject")
	if len(puts) != 1 || puts[0].Bucket != dstBucket || puts[0].Header.Get(hKMSKey) != replicaKMSKey {
		t.Fatalf("probe writes %v, want one PutObject to dst under %s", s3fake.Describe(puts), replicaKMSKey)
	}
	if vs := f.Versions(dstBucket, puts[0].Key); len(vs) != 0 {
		t.Errorf("the probe left %d versions of %s", len(vs), puts[0].Key)
	}
}

// fixedTraffic is a Traffic that reports fixed figures.
type fixedTraffic struct{}

func (fixedTraffic) Stats() (int64, int64) { return 7, 2 }
func (fixedTraffic) Rate() float64         { return 1.5 }
func (fixedTraffic) ByOperation() map[string]int64 {
	return map[string]int64{"CopyObject": 5, "HeadObject": 2}
}

// TestRunRecorded: BeginRun records a run; Close records its end with the
// traffic figures, which ReadStatus then reports as the last run.
func TestRunRecorded(t *testing.T) {
	f := newFake(t)
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{})
	settings, err := e.spec.Parse()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	j, err := job.Open(context.Background(), settings, job.Deps{Source: f.Client(srcClient), Dest: f.Client(dstClient),
		Store: e.db, Log: e.job.Log, Traffic: fixedTraffic{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.BeginRun(context.Background(), "copy"); err != nil {
		t.Fatal(err)
	}
	st, err := job.ReadStatus(context.Background(), e.db, job.Spec{})
	if err != nil || st.LastRun == nil || st.LastRun.Command != "copy" || !st.LastRun.FinishedAt.IsZero() {
		t.Fatalf("last run while running: %+v, %v", st.LastRun, err)
	}
	j.Close(0)
	st, err = job.ReadStatus(context.Background(), e.db, job.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	want := planner.RunStats{Command: "copy", Requests: 7, Throttled: 2, Rate: 1.5}
	got := *st.LastRun
	if got.Command != want.Command || got.Requests != want.Requests || got.Throttled != want.Throttled || got.Rate != want.Rate ||
		got.FinishedAt.IsZero() || got.StartedAt.Before(start) {
		t.Errorf("last run %+v, want %+v finished", got, want)
	}
	if fmt.Sprint(got.ByOperation) != "map[CopyObject:5 HeadObject:2]" || fmt.Sprint(st.Spent) != "map[CopyObject:5 HeadObject:2]" {
		t.Errorf("requests by operation: last run %v, every run %v; want CopyObject 5, HeadObject 2", got.ByOperation, st.Spent)
	}
}

// TestACLChecks: --acl copy stops at the checks where the destination has
// ACLs disabled (Object Ownership BucketOwnerEnforced) or the endpoint does
// not implement them; a bucket with ACLs enabled passes.
func TestACLChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply *s3fake.Reply
		want  string
	}{
		{"enforced", s3fake.XML(`<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>`),
			"has ACLs disabled (Object Ownership BucketOwnerEnforced"},
		{"not implemented", nil, "this endpoint does not support ACLs"},
		{"object writer", s3fake.XML(`<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.SetHook(func(r s3fake.Request) *s3fake.Reply {
				if r.Op == "GetBucketOwnershipControls" {
					return tc.reply
				}
				return nil
			})
			spec := testSpec(f, "data", "backup")
			spec.ACL = "copy"
			e := openEnv(t, f, spec, options{})
			err := e.job.CheckBeforeCopy(context.Background(), false)
			if tc.want == "" {
				if err != nil {
					t.Errorf("checks: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checks: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestObjectLockUnreadable: where the source has Object Lock but the
// credentials may not read it (a HEAD then leaves it out, silently), the
// run says so instead of dropping the locks without a word.
func TestObjectLockUnreadable(t *testing.T) {
	f := newFake(t)
	put(f, "data/a", "v1", []byte("a"), nil)
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		switch {
		case r.Op == "GetObjectLockConfiguration" && r.Bucket == srcBucket:
			return s3fake.XML(`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>`)
		case r.Query.Has("retention"):
			return s3fake.Error(403, "AccessDenied")
		}
		return nil
	})
	var notices []string
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{notice: func(s string) { notices = append(notices, s) }})
	e.run(t)
	if !slices.ContainsFunc(notices, func(s string) bool {
		return strings.Contains(s, "the source's Object Lock settings cannot be read with these credentials (GetObjectRetention: AccessDenied)")
	}) {
		t.Errorf("notices %q", notices)
	}
}

// TestSSES3ProbeBeforeCopying: a destination that accepts SSE-S3 and stores
// the object unencrypted (Ceph RGW before Reef) stops the copy before
// anything is copied, once the plan shows SSE-S3 versions to copy; the
// probe object is removed, and the checks of the next run probe it at
// once. A job without SSE-S3 versions sends no probe; neither does one with
// --no-probe.
func TestSSES3ProbeBeforeCopying(t *testing.T) {
	ignoresSSES3 := func(f *s3fake.Server) {
		f.SetHook(func(r s3fake.Request) *s3fake.Reply {
			rep := f.Answer(r)
			if r.Op == "HeadObject" && strings.HasPrefix(r.Key, executor.ProbePrefix) {
				rep.Header.Del("x-amz-server-side-encryption")
			}
			return rep
		})
	}
	t.Run("ignored", func(t *testing.T) {
		f := newFake(t)
		ignoresSSES3(f)
		put(f, "data/s3", "v1", []byte("x"), map[string]string{hSSE: "AES256"})
		put(f, "data/plain", "v1", []byte("y"), nil)
		e := openEnv(t, f, testSpec(f, "data", "backup"), options{})
		e.scanPlan(t)
		err := e.job.Copy(context.Background())
		var pe job.PreflightError
		if !errors.As(err, &pe) || len(pe.Problems) != 1 || !strings.Contains(pe.Problems[0], "accepted a probe object written with SSE-S3 but stored it unencrypted") ||
			!strings.Contains(pe.Problems[0], "1 SSE-S3 version(s) to copy there") {
			t.Fatalf("Copy: %v, want the SSE-S3 probe's problem", err)
		}
		if n := len(workOps(f.Requests())) - len(workOps(f.Ops("ListObjectVersions"))) - len(workOps(f.Ops("HeadObject"))); n != 0 ||
			len(f.Ops("CopyObject")) != 0 {
			t.Errorf("requests other than the scan's and the probe's: %v", s3fake.Describe(workOps(f.Requests())))
		}
		probes := f.Ops("PutObject")
		if len(probes) != 1 || probes[0].Header.Get(hSSE) != "AES256" || len(f.Versions(dstBucket, probes[0].Key)) != 0 {
			t.Fatalf("probes %v, want one SSE-S3 PutObject, removed after", s3fake.Describe(probes))
		}
		for _, r := range e.rows(t) {
			if r.Status != planner.StatusPending {
				t.Errorf("%s: %s, want pending: nothing copied", r.Key, r.Status)
			}
		}
		// The next run's checks know of the SSE-S3 versions.
		e.reopen(t)
		findings, err := e.job.Check(context.Background(), true)
		if err != nil || len(findings) != 1 || !findings[0].Error || !strings.Contains(findings[0].Message, "SSE-S3") {
			t.Errorf("Check: %+v, %v; want the SSE-S3 probe's problem", findings, err)
		}
	})
	for _, tc := range []struct {
		name    string
		sses3   bool
		noProbe bool
	}{{"no SSE-S3 versions", false, false}, {"--no-probe", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			ignoresSSES3(f)
			hdr := map[string]string(nil)
			if tc.sses3 {
				hdr = map[string]string{hSSE: "AES256"}
			}
			put(f, "data/a", "v1", []byte("x"), hdr)
			spec := testSpec(f, "data", "backup")
			spec.NoProbe = tc.noProbe
			e := openEnv(t, f, spec, options{})
			e.scanPlan(t)
			if err := e.job.Copy(context.Background()); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if ps := f.Ops("PutObject"); len(ps) != 0 {
				t.Errorf("probes sent: %v", s3fake.Describe(ps))
			}
		})
	}
}
