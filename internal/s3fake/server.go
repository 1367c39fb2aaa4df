package s3fake

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is the fake S3. Every method is safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	buckets    map[string]*bucket
	uploads    map[string]*upload // by upload id
	reqs       []Request
	hook       func(Request) *Reply
	versionSeq int
	uploadSeq  int
}

// New starts a server, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, buckets: map[string]*bucket{}, uploads: map[string]*upload{}}
	// A plain handler, not a ServeMux: a mux would clean "//" in keys.
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's endpoint, https://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// HTTPClient is an HTTP client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// CertPEM is the server's certificate in PEM form, for CA bundles of
// other processes.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Client is a real S3 client of the server: path style, region us-east-1,
// static credentials with accessKey as the key id (Request.Client), and
// one attempt per request, so that failures are immediate and every
// request the caller makes appears exactly once in the log.
func (s *Server) Client(accessKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.srv.URL),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, "secret-"+accessKey, ""),
		HTTPClient:       s.srv.Client(),
		RetryMaxAttempts: 1,
	})
}

// SetHook makes h see every request first: a non-nil reply is sent
// instead of the default answer (which h may build with Answer and
// change). nil removes the hook. h runs without the server's lock, on the
// request's goroutine.
func (s *Server) SetHook(h func(Request) *Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// Requests returns the recorded requests in the order they were answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Ops returns the recorded requests of one operation.
func (s *Server) Ops(op string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// Only returns the single request of op, failing the test otherwise.
func (s *Server) Only(t testing.TB, op string) Request {
	t.Helper()
	rs := s.Ops(op)
	if len(rs) != 1 {
		t.Fatalf("%d %s requests, want 1: %v", len(rs), op, Describe(s.Requests()))
	}
	return rs[0]
}

// Describe lists requests compactly for failure messages.
func Describe(rs []Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s(%s %s?%s → %d)", r.Op, r.Method, r.RawPath, r.RawQuery, r.Status)
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(r)
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	var rep *Reply
	switch {
	case err != nil:
		rep = errorReply(http.StatusBadRequest, "IncompleteBody", err.Error())
	case hook != nil:
		rep = hook(req)
	}
	if rep == nil {
		rep = s.Answer(req)
	}
	if rep.Drop {
		s.mu.Lock()
		req.Status = 0
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	body := rep.Body
	if r.Method == http.MethodHead {
		body = nil // HEAD answers carry no body, errors included
	}
	req.Status, req.Reply, req.ReplyBody = rep.Status, rep.Header.Clone(), body
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	for k, vs := range rep.Header {
		w.Header()[k] = slices.Clone(vs)
	}
	w.WriteHeader(rep.Status)
	_, _ = w.Write(body)
}

// Answer is the default reply to a request, as S3 would give it from the
// server's state (which it changes as S3 would).
func (s *Server) Answer(r Request) *Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[r.Bucket]
	if b == nil {
		return Error(http.StatusNotFound, "NoSuchBucket")
	}
	h := handlers[r.Op]
	if h == nil {
		return Error(http.StatusNotImplemented, "NotImplemented")
	}
	return h(s, b, r)
}

// handler answers one operation on an existing bucket, under the lock.
type handler func(s *Server, b *bucket, r Request) *Reply

// handlers are the operations the fake serves, by name.
var handlers = map[string]handler{
	"HeadBucket": headBucket, "GetBucketVersioning": getVersioning, "GetBucketEncryption": getEncryption,
	"GetBucketReplication": getReplication, "GetObjectLockConfiguration": getObjectLock, "ListObjectVersions": listVersions,
	"HeadObject": getObject, "GetObject": getObject, "GetObjectTagging": getTagging, "PutObjectTagging": putTagging,
	"PutObject": (*Server).putObject, "CopyObject": (*Server).copyObject, "DeleteObject": (*Server).deleteObject,
	"CreateMultipartUpload": (*Server).createUpload, "UploadPart": (*Server).uploadPart, "UploadPartCopy": (*Server).uploadPart,
	"ListParts": (*Server).listParts, "CompleteMultipartUpload": (*Server).completeUpload,
	"AbortMultipartUpload": (*Server).abortUpload, "ListMultipartUploads": (*Server).listUploads,
}

// now is the time of a write, as S3 keeps it (milliseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
