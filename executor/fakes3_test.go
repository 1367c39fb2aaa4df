package executor

// Wire-level test fakes: a TLS httptest server that
// records every request and answers with minimal S3 XML and headers, real
// *s3.Client's pointed at it, an in-memory Store, and a key ring.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/planner"
)

const (
	srcBucket = "src"
	dstBucket = "dst"
	mib       = 1 << 20

	// Access key ids of the two clients: the Authorization header tells
	// which client sent a request.
	srcAccessKey = "SRCACCESSKEY"
	dstAccessKey = "DSTACCESSKEY"
)

// request is one recorded HTTP request, with the reply the fake sent.
type request struct {
	Op       string // S3 operation, as fakeS3 recognised it
	Client   string // "src" or "dst", from the signing access key
	Method   string
	Bucket   string
	Key      string // decoded from the path
	RawPath  string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
	Status   int         // status of the reply
	Reply    http.Header // headers of the reply
}

// reply is what the fake answers.
type reply struct {
	status int
	header http.Header
	body   string
}

// object is what the fake knows of one object version.
type object struct {
	size   int64
	header map[string]string // extra HEAD/GET response headers
	tags   [][2]string
}

// listed is one entry of a ListObjectVersions answer.
type listed struct {
	key, versionID, etag, lastModified string
	size                               int64
	deleteMarker, latest               bool
}

// fakeS3 is a tiny S3 over TLS. hook, when set, may answer a request
// instead of the defaults.
type fakeS3 struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []request
	objects  map[string]object   // "bucket/key"
	versions map[string][]listed // bucket → listing, S3 order
	hook     func(request) *reply
	seq      int
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{t: t, objects: map[string]object{}, versions: map[string][]listed{}}
	// A plain handler, not a ServeMux: a mux would clean "//" in keys.
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client is a real S3 client pointed at the fake: path style, static
// credentials, one attempt per request so failures are immediate.
func (f *fakeS3) client(accessKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "secret-"+accessKey, ""),
		HTTPClient:   f.srv.Client(),
		// One attempt: failures are recorded at once, and every request
		// the executor makes appears exactly once in the log.
		RetryMaxAttempts: 1,
	})
}

func (f *fakeS3) putObject(bucket, key string, o object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[bucket+"/"+key] = o
}

func (f *fakeS3) setVersions(bucket string, l ...listed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[bucket] = l
}

func (f *fakeS3) setHook(h func(request) *reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// requests returns the recorded requests in arrival order.
func (f *fakeS3) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// ops returns the recorded requests of one operation.
func (f *fakeS3) ops(op string) []request {
	var out []request
	for _, r := range f.requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// opName recognises the S3 operation of a request.
func opName(method string, q url.Values, h http.Header) string {
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySrc := h.Get("x-amz-copy-source") != ""
	switch method {
	case http.MethodHead:
		return "HeadObject"
	case http.MethodGet:
		switch {
		case has("tagging"):
			return "GetObjectTagging"
		case has("versions"):
			return "ListObjectVersions"
		}
		return "GetObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && copySrc:
			return "UploadPartCopy"
		case has("partNumber"):
			return "UploadPart"
		case copySrc:
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return "Unknown"
}

func (f *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	req := request{
		Method: r.Method, Bucket: bucket, Key: key, RawPath: r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body,
	}
	req.Op = opName(r.Method, req.Query, r.Header)
	switch auth := r.Header.Get("Authorization"); {
	case strings.Contains(auth, "Credential="+srcAccessKey+"/"):
		req.Client = "src"
	case strings.Contains(auth, "Credential="+dstAccessKey+"/"):
		req.Client = "dst"
	}

	f.mu.Lock()
	f.seq++
	seq, hook := f.seq, f.hook
	f.mu.Unlock()
	var rep *reply
	if hook != nil {
		rep = hook(req)
	}
	if rep == nil {
		rep = f.answer(req, seq)
	}
	for k, vs := range rep.header {
		w.Header()[k] = vs
	}
	req.Status, req.Reply = rep.status, rep.header
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	w.WriteHeader(rep.status)
	if r.Method != http.MethodHead {
		io.WriteString(w, rep.body)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func xmlReply(body string, kv ...string) *reply {
	h := hdr(kv...)
	h.Set("Content-Type", "application/xml")
	return &reply{status: http.StatusOK, header: h, body: xml.Header + body}
}

// s3Error is an S3 error reply.
func s3Error(status int, code string) *reply {
	return &reply{status: status, header: hdr("Content-Type", "application/xml"),
		body: xml.Header + "<Error><Code>" + code + "</Code><Message>fake " + code + "</Message><RequestId>req-1</RequestId></Error>"}
}

const ns = ` xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`

// answer is the default reply to each operation.
func (f *fakeS3) answer(r request, seq int) *reply {
	f.mu.Lock()
	obj, found := f.objects[r.Bucket+"/"+r.Key]
	listing := slices.Clone(f.versions[r.Bucket])
	f.mu.Unlock()
	vid := fmt.Sprintf("%s-v%d", r.Bucket, seq)
	switch r.Op {
	case "HeadObject", "GetObject":
		if !found {
			return s3Error(http.StatusNotFound, "NoSuchKey")
		}
		h := hdr("Content-Length", strconv.FormatInt(obj.size, 10), "ETag", `"0123456789abcdef0123456789abcdef"`,
			"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		if v := r.Query.Get("versionId"); v != "" {
			h.Set("x-amz-version-id", v)
		}
		for k, v := range obj.header {
			h.Set(k, v)
		}
		return &reply{status: http.StatusOK, header: h, body: strings.Repeat("x", int(obj.size))}
	case "GetObjectTagging":
		var b strings.Builder
		for _, t := range obj.tags {
			fmt.Fprintf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", xmlEscape(t[0]), xmlEscape(t[1]))
		}
		return xmlReply("<Tagging" + ns + "><TagSet>" + b.String() + "</TagSet></Tagging>")
	case "ListObjectVersions":
		prefix := r.Query.Get("prefix")
		var b strings.Builder
		for _, l := range listing {
			if !strings.HasPrefix(l.key, prefix) {
				continue
			}
			if l.deleteMarker {
				fmt.Fprintf(&b, "<DeleteMarker><Key>%s</Key><VersionId>%s</VersionId><IsLatest>%t</IsLatest><LastModified>%s</LastModified></DeleteMarker>",
					xmlEscape(l.key), l.versionID, l.latest, l.lastModified)
				continue
			}
			fmt.Fprintf(&b, "<Version><Key>%s</Key><VersionId>%s</VersionId><IsLatest>%t</IsLatest><LastModified>%s</LastModified><ETag>%s</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Version>",
				xmlEscape(l.key), l.versionID, l.latest, l.lastModified, xmlEscape(l.etag), l.size)
		}
		return xmlReply("<ListVersionsResult" + ns + "><Name>" + r.Bucket + "</Name><Prefix>" + xmlEscape(prefix) +
			"</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>" + b.String() + "</ListVersionsResult>")
	case "CopyObject":
		return xmlReply(`<CopyObjectResult><ETag>"copied-etag"</ETag><LastModified>2026-01-02T03:04:05.000Z</LastModified></CopyObjectResult>`,
			"x-amz-version-id", vid)
	case "UploadPartCopy":
		return xmlReply(`<CopyPartResult><ETag>"part-` + r.Query.Get("partNumber") + `"</ETag><LastModified>2026-01-02T03:04:05.000Z</LastModified></CopyPartResult>`)
	case "CreateMultipartUpload":
		return xmlReply("<InitiateMultipartUploadResult" + ns + "><Bucket>" + r.Bucket + "</Bucket><Key>" + xmlEscape(r.Key) +
			"</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>")
	case "CompleteMultipartUpload":
		return xmlReply("<CompleteMultipartUploadResult"+ns+"><Bucket>"+r.Bucket+"</Bucket><Key>"+xmlEscape(r.Key)+
			`</Key><ETag>"x-3"</ETag></CompleteMultipartUploadResult>`, "x-amz-version-id", vid)
	case "AbortMultipartUpload":
		return &reply{status: http.StatusNoContent}
	case "DeleteObject":
		return &reply{status: http.StatusNoContent, header: hdr("x-amz-version-id", vid, "x-amz-delete-marker", "true")}
	case "PutObject":
		return &reply{status: http.StatusOK, header: hdr("ETag", `"put-etag"`, "x-amz-version-id", vid)}
	case "UploadPart":
		return &reply{status: http.StatusOK, header: hdr("ETag", `"up-`+r.Query.Get("partNumber")+`"`)}
	}
	return s3Error(http.StatusNotImplemented, "NotImplemented")
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// testKey is one SSE-C key as the test knows it, computed independently of
// the planner: raw bytes, the header value and the MD5 header value.
type testKey struct {
	id     string
	raw    [32]byte
	b64    string
	md5b64 string
}

func newTestKey(id string) testKey {
	k := testKey{id: id, raw: sha256.Sum256([]byte("s3backfill test key " + id))}
	k.b64 = base64.StdEncoding.EncodeToString(k.raw[:])
	sum := md5.Sum(k.raw[:])
	k.md5b64 = base64.StdEncoding.EncodeToString(sum[:])
	return k
}

var (
	keyA = newTestKey("key-a")
	keyB = newTestKey("key-b")
)

// secrets are the forms of key material that must never leave a request.
func (k testKey) secrets() []string {
	return []string{k.b64, string(k.raw[:]), fmt.Sprintf("%x", k.raw[:]),
		base64.URLEncoding.EncodeToString(k.raw[:]), base64.RawStdEncoding.EncodeToString(k.raw[:])}
}

func testRing(t *testing.T) *planner.KeyRing {
	t.Helper()
	ring, err := planner.ParseKeyFile(strings.NewReader(fmt.Sprintf(
		`{"keys": [{"id": %q, "key": %q, "replica_key": %q}, {"id": %q, "key": %q}]}`,
		keyA.id, keyA.b64, keyB.id, keyB.id, keyB.b64)))
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

func (s *memStore) NextWork(_ context.Context, after planner.KeyCursor, limit int) ([]planner.KeyWork, error) {
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

func (s *memStore) DropUpload(_ context.Context, uploadID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, u := range s.uploads {
		if u.UploadID == uploadID {
			delete(s.uploads, id)
		}
	}
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

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one executor wired to a fake.
type harness struct {
	fake  *fakeS3
	cfg   Config
	store *memStore
	logs  *syncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{
		fake: newFakeS3(t),
		cfg: Config{SourceBucket: srcBucket, Workers: 2,
			PartSize: 5 * mib, PartWorkers: 3, Keys: testRing(t)},
		store: &memStore{},
		logs:  &syncBuffer{},
	}
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
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ex, err := New(h.cfg, h.fake.client(srcAccessKey), h.fake.client(dstAccessKey), nil, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ex.Run(context.Background(), h.store)
}

// SSE-C header names: the replica's key, and the source's key on copies.
const (
	ssecPrefix    = "x-amz-server-side-encryption-customer-"
	copySSECPrefx = "x-amz-copy-source-server-side-encryption-customer-"
)

// wantSSEC checks one triple of SSE-C headers against k, computed by the
// test: algorithm AES256, key base64(raw), MD5 base64(md5(raw)).
func wantSSEC(t *testing.T, r request, prefix string, k testKey) {
	t.Helper()
	for name, want := range map[string]string{"algorithm": "AES256", "key": k.b64, "key-MD5": k.md5b64} {
		if got := r.Header.Get(prefix + name); got != want {
			t.Errorf("%s %s: header %s%s = %q, want %q (%s)", r.Op, r.RawPath, prefix, name, got, want, k.id)
		}
	}
}

// noHeaders checks that r has no header starting with any of prefixes.
func noHeaders(t *testing.T, r request, prefixes ...string) {
	t.Helper()
	for name, v := range r.Header {
		for _, p := range prefixes {
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(p)) {
				t.Errorf("%s %s: unexpected header %s: %q", r.Op, r.RawPath, name, v)
			}
		}
	}
}

// only returns the single request of op, failing the test otherwise.
func only(t *testing.T, f *fakeS3, op string) request {
	t.Helper()
	rs := f.ops(op)
	if len(rs) != 1 {
		t.Fatalf("%d %s requests, want 1: %v", len(rs), op, describe(f.requests()))
	}
	return rs[0]
}

// describe lists requests compactly for failure messages.
func describe(rs []request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s(%s %s?%s → %d)", r.Op, r.Method, r.RawPath, r.RawQuery, r.Status)
	}
	return out
}
