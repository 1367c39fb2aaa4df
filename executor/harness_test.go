package executor

// The executor's side of the wire-level tests: an executor wired to real
// *s3.Client's of the shared fake S3 (internal/s3fake), an in-memory
// Store, a key ring, and checks of SSE-C headers.

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// The fake's two buckets and the access keys of their clients.
const (
	srcBucket, dstBucket = s3fake.SourceBucket, s3fake.DestBucket
	srcClient, dstClient = s3fake.SourceClient, s3fake.DestClient
	mib                  = 1 << 20
)

var (
	keyA = s3fake.NewKey("key-a")
	keyB = s3fake.NewKey("key-b")
)

func testRing(t *testing.T) *planner.KeyRing {
	t.Helper()
	ring, err := planner.ParseKeyFile(strings.NewReader(s3fake.KeyFile(map[string]string{keyA.ID: keyB.ID}, keyA, keyB)))
	if err != nil {
		t.Fatalf("ParseKeyFile: %v", err)
	}
	return ring
}

// memStore is an in-memory Store.
type memStore struct {
	mu       sync.Mutex
	jobs     []planner.KeyWork // in key order
	claimed  []int64
	outcomes []planner.Outcome
	uploads  map[int64]*planner.Upload
}

var _ Store = (*memStore)(nil)

func (s *memStore) ClaimKeys(_ context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []planner.KeyWork
	for _, j := range s.jobs {
		if (j.Dest > after.Dest || j.Dest == after.Dest && j.Key > after.Key) && len(out) < limit {
			out = append(out, j)
		}
	}
	return out, nil
}

func (s *memStore) LoadUpload(_ context.Context, taskID int64) (*planner.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.uploads[taskID]; ok {
		c := *u
		return &c, nil
	}
	return nil, nil
}

func (s *memStore) SaveUpload(_ context.Context, u planner.Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploads == nil {
		s.uploads = map[int64]*planner.Upload{}
	}
	if u.Started.IsZero() {
		u.Started = time.Now()
	}
	s.uploads[u.TaskID] = &u
	return nil
}

func (s *memStore) SavePart(_ context.Context, uploadID string, p planner.Part) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.uploads {
		if u.UploadID == uploadID {
			u.Parts = append(u.Parts, p)
		}
	}
	return nil
}

func (s *memStore) DropUpload(_ context.Context, taskID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.uploads, taskID)
	return nil
}

func (s *memStore) Claim(_ context.Context, ids []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimed = append(s.claimed, ids...)
	return nil
}

func (s *memStore) Record(o planner.Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes = append(s.outcomes, o)
	return nil
}

// outcome returns the one outcome recorded for task id.
func (s *memStore) outcome(t *testing.T, id int64) planner.Outcome {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []planner.Outcome
	for _, o := range s.outcomes {
		if o.TaskID == id {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("task %d: %d outcomes recorded, want 1: %+v", id, len(found), found)
	}
	return found[0]
}

// harness is one executor wired to a fake with a versioned source and
// destination bucket.
type harness struct {
	fake  *s3fake.Server
	cfg   Config
	store *memStore
	logs  *s3fake.Buffer
	// retries: the clients retry as the SDK does, up to this many
	// attempts without waiting (0: one attempt, so that every request the
	// executor makes appears once in the log).
	retries int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := s3fake.New(t)
	f.CreateBucket(srcBucket, true)
	f.CreateBucket(dstBucket, true)
	return &harness{
		fake: f,
		cfg: Config{SourceBucket: srcBucket, Workers: 2,
			PartSize: 5 * mib, PartWorkers: 3, Keys: testRing(t), WriteBackoff: time.Millisecond},
		store: &memStore{},
		logs:  &s3fake.Buffer{},
	}
}

// source seeds a source version of size bytes (s3fake.Fill) with extra
// headers; it returns its content.
func (h *harness) source(key, versionID string, size int64, header map[string]string) []byte {
	h.fake.Put(srcBucket, key, s3fake.Object{VersionID: versionID, Size: size, Header: header})
	return s3fake.Fill(size)
}

// executor is the harness's executor, for calls other than Run.
func (h *harness) executor(t *testing.T) *Executor {
	t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, dst := h.fake.Client(srcClient), h.fake.Client(dstClient)
	if h.retries > 0 {
		retrying := func(c *s3.Client) *s3.Client {
			return s3.New(c.Options(), func(o *s3.Options) {
				o.RetryMaxAttempts = 0 // the retryer below says
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts = h.retries
					so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
					so.RateLimiter = ratelimit.None
				})
			})
		}
		src, dst = retrying(src), retrying(dst)
	}
	ex, err := New(h.cfg, src, dst, nil, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ex
}

// run copies jobs with the executor, through its public API, and fails
// the test if the run itself fails.
func (h *harness) run(t *testing.T, jobs ...planner.KeyWork) {
	t.Helper()
	if err := h.runErr(t, jobs...); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func (h *harness) runErr(t *testing.T, jobs ...planner.KeyWork) error {
	t.Helper()
	for i := range jobs {
		if jobs[i].Dest == "" {
			jobs[i].Dest = dstBucket
		}
		if jobs[i].DestKey == "" {
			jobs[i].DestKey = jobs[i].Key
		}
		for k := range jobs[i].Tasks {
			if jobs[i].Tasks[k].Key == "" {
				jobs[i].Tasks[k].Key = jobs[i].Key
			}
			if jobs[i].Tasks[k].DestKey == "" {
				jobs[i].Tasks[k].DestKey = jobs[i].DestKey
			}
			if jobs[i].Tasks[k].Dest == "" {
				jobs[i].Tasks[k].Dest = jobs[i].Dest
			}
		}
	}
	slices.SortFunc(jobs, func(a, b planner.KeyWork) int { return strings.Compare(a.Key, b.Key) })
	h.store.jobs = jobs
	return h.executor(t).Run(context.Background(), h.store)
}

// replica is the one version a copy made of key in the destination.
func (h *harness) replica(t *testing.T, key string) s3fake.Object {
	t.Helper()
	vs := h.fake.Versions(dstBucket, key)
	if len(vs) != 1 {
		t.Fatalf("destination %s has %d versions, want the one replica", key, len(vs))
	}
	return vs[0]
}

// SSE-C header names: the replica's key, and the source's key on copies.
const (
	ssecPrefix    = "x-amz-server-side-encryption-customer-"
	copySSECPrefx = "x-amz-copy-source-server-side-encryption-customer-"
)

// wantSSEC checks one triple of SSE-C headers against k, computed by the
// test: algorithm AES256, key base64(raw), MD5 base64(md5(raw)).
func wantSSEC(t *testing.T, r s3fake.Request, prefix string, k s3fake.Key) {
	t.Helper()
	for name, want := range map[string]string{"algorithm": "AES256", "key": k.B64, "key-MD5": k.MD5} {
		if got := r.Header.Get(prefix + name); got != want {
			t.Errorf("%s %s: header %s%s = %q, want %q (%s)", r.Op, r.RawPath, prefix, name, got, want, k.ID)
		}
	}
}

// noHeaders checks that r has no header starting with any of prefixes.
func noHeaders(t *testing.T, r s3fake.Request, prefixes ...string) {
	t.Helper()
	for name, v := range r.Header {
		for _, p := range prefixes {
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(p)) {
				t.Errorf("%s %s: unexpected header %s: %q", r.Op, r.RawPath, name, v)
			}
		}
	}
}
