package job_test

// The shared setup of the job's orchestration tests: a job opened on the
// wire-level fake S3 (internal/s3fake), which holds both the source and
// the destination bucket, with a checkpoint under t.TempDir(). The source
// client signs as "src" and the destination client as "dst", so that the
// fake's request log tells who sent what.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

const (
	// The fake's two buckets and the access keys of their clients.
	srcBucket, dstBucket = s3fake.SourceBucket, s3fake.DestBucket
	srcClient, dstClient = s3fake.SourceClient, s3fake.DestClient
	mib                  = 1 << 20

	hSSE    = "x-amz-server-side-encryption"
	hKMSKey = "x-amz-server-side-encryption-aws-kms-key-id"
	hSSEC   = "x-amz-server-side-encryption-customer-"
)

var (
	keyA = s3fake.NewKey("key-a") // its replicas are encrypted with keyR
	keyB = s3fake.NewKey("key-b")
	keyR = s3fake.NewKey("key-r")
	keyX = s3fake.NewKey("key-x") // in no key ring
)

// testRing is the key ring key-a (replica_key key-r), key-b, key-r, in
// that order: inspection tries them in file order.
func testRing(t *testing.T) *planner.KeyRing {
	t.Helper()
	ring, err := planner.ParseKeyFile(strings.NewReader(s3fake.KeyFile(map[string]string{keyA.ID: keyR.ID}, keyA, keyB, keyR)))
	if err != nil {
		t.Fatalf("ParseKeyFile: %v", err)
	}
	return ring
}

// newFake is a fake S3 with a versioned source and destination bucket.
func newFake(t *testing.T) *s3fake.Server {
	t.Helper()
	f := s3fake.New(t)
	f.CreateBucket(srcBucket, true)
	f.CreateBucket(dstBucket, true)
	return f
}

// testSpec is the spec of a job from s3://src/<srcPrefix> to
// s3://dst/<dstPrefix> on the fake: small worker counts, 5 MiB parts and
// an 8 MiB multipart threshold, so that a 9 MiB object goes in parts.
func testSpec(f *s3fake.Server, srcPrefix, dstPrefix string) job.Spec {
	spec := job.DefaultSpec()
	spec.Source = "s3://" + srcBucket + "/" + srcPrefix
	spec.Dest = "s3://" + dstBucket + "/" + dstPrefix
	spec.EndpointURL = f.URL()
	spec.Workers = 2
	spec.PartWorkers = 2
	spec.PartSize = 5 * mib
	spec.MultipartThreshold = 8 * mib
	return spec
}

// options are what a test may change of the job's Deps.
type options struct {
	keys                     *planner.KeyRing
	srcEndpoint, dstEndpoint string // default: the fake's URL
	progress                 job.Progress
	path                     string // the checkpoint; default: a new one under t.TempDir()
	notice                   func(string)
	// store wraps the checkpoint as the job's Store (nil: the checkpoint).
	store func(*checkpoint.DB) job.Store
	// manifest is what the scan reads instead of listing (--manifest).
	manifest string
}

// env is one job opened on a fake, with its checkpoint.
type env struct {
	fake *s3fake.Server
	spec job.Spec
	opts options
	path string
	db   *checkpoint.DB
	job  *job.Job
	logs *s3fake.Buffer
}

// openEnv opens the checkpoint and the job; both are closed when the test
// ends (or by reopen).
func openEnv(t *testing.T, f *s3fake.Server, spec job.Spec, o options) *env {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "job.db")
	}
	if o.srcEndpoint == "" {
		o.srcEndpoint = f.URL()
	}
	if o.dstEndpoint == "" {
		o.dstEndpoint = f.URL()
	}
	e := &env{fake: f, spec: spec, opts: o, path: o.path, logs: &s3fake.Buffer{}}
	e.open(t)
	t.Cleanup(func() { e.close(t) })
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := checkpoint.Open(ctx, e.path)
	if err != nil {
		t.Fatalf("checkpoint.Open: %v", err)
	}
	settings, err := e.spec.Parse()
	if err != nil {
		db.Close()
		t.Fatalf("Parse: %v", err)
	}
	settings.Manifest = e.opts.manifest
	var store job.Store = db
	if e.opts.store != nil {
		store = e.opts.store(db)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	j, err := job.Open(ctx, settings, job.Deps{
		Source: e.fake.Client(srcClient), Dest: e.fake.Client(dstClient), Store: store,
		Keys: e.opts.keys, Log: log, Progress: e.opts.progress,
		SourceEndpoint: e.opts.srcEndpoint, DestEndpoint: e.opts.dstEndpoint, Notice: e.opts.notice,
	})
	if err != nil {
		db.Close()
		t.Fatalf("job.Open: %v", err)
	}
	e.db, e.job = db, j
}

// close closes the checkpoint (once).
func (e *env) close(t *testing.T) {
	t.Helper()
	if e.db == nil {
		return
	}
	if err := e.db.Close(); err != nil {
		t.Errorf("closing the checkpoint: %v", err)
	}
	e.db, e.job = nil, nil
}

// reopen closes the checkpoint and opens it and the job again, as the next
// process would.
func (e *env) reopen(t *testing.T) {
	t.Helper()
	e.close(t)
	e.open(t)
}

// scanPlan scans and plans, failing the test on an error.
func (e *env) scanPlan(t *testing.T) planner.ScanStats {
	t.Helper()
	ctx := context.Background()
	st, err := e.job.Scan(ctx)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if err := e.job.Plan(ctx); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return st
}

// run scans, plans and copies, failing the test on an error.
func (e *env) run(t *testing.T) {
	t.Helper()
	e.scanPlan(t)
	if err := e.job.Copy(context.Background()); err != nil {
		t.Fatalf("Copy: %v", err)
	}
}

// rows are every row of the checkpoint, in EachRow order.
func (e *env) rows(t *testing.T) []planner.Row {
	t.Helper()
	var out []planner.Row
	if err := e.db.EachRow(context.Background(), "", func(r planner.Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("EachRow: %v", err)
	}
	return out
}

// row is the one row of a source version (to dst).
func (e *env) row(t *testing.T, key, versionID string) planner.Row {
	t.Helper()
	var found []planner.Row
	for _, r := range e.rows(t) {
		if r.Key == key && r.VersionID == versionID && r.Dest == dstBucket {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d rows of %s@%s, want 1", len(found), key, versionID)
	}
	return found[0]
}

// put seeds a source version and returns its content.
func put(f *s3fake.Server, key, versionID string, data []byte, header map[string]string) []byte {
	f.Put(srcBucket, key, s3fake.Object{VersionID: versionID, Data: data, Header: header})
	return data
}

// copySourceOf reads the source key and version of a copy request.
func copySourceOf(r s3fake.Request) (bucket, key, versionID string) {
	raw := r.Header.Get("x-amz-copy-source")
	path, query, _ := strings.Cut(raw, "?")
	path, _ = url.PathUnescape(strings.TrimPrefix(path, "/"))
	q, _ := url.ParseQuery(query)
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key, q.Get("versionId")
}

// copyObjects counts the CopyObject requests by source "key@version".
func copyObjects(f *s3fake.Server) map[string]int {
	out := map[string]int{}
	for _, r := range f.Ops("CopyObject") {
		_, key, vid := copySourceOf(r)
		out[key+"@"+vid]++
	}
	return out
}

// opsOn counts the requests of op on bucket/key.
func opsOn(f *s3fake.Server, op, bucket, key string) int {
	n := 0
	for _, r := range f.Ops(op) {
		if r.Bucket == bucket && r.Key == key {
			n++
		}
	}
	return n
}

// replicas are the destination versions of key, oldest first.
func replicas(f *s3fake.Server, key string) []s3fake.Object {
	vs := f.Versions(dstBucket, key)
	slices.Reverse(vs)
	return vs
}

// byVersion indexes rows by "key@version".
func byVersion(rows []planner.Row) map[string]planner.Row {
	out := map[string]planner.Row{}
	for _, r := range rows {
		out[r.Key+"@"+r.VersionID] = r
	}
	return out
}

// stringsReader reads the formatted text.
func stringsReader(format string, a ...any) io.Reader {
	return strings.NewReader(fmt.Sprintf(format, a...))
}

// workOps are the requests of rs the copies sent: those on the checks'
// probe objects are left out.
func workOps(rs []s3fake.Request) []s3fake.Request {
	return slices.DeleteFunc(slices.Clone(rs), func(r s3fake.Request) bool { return strings.HasPrefix(r.Key, executor.ProbePrefix) })
}
