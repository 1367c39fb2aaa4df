package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// proxy is a TLS reverse proxy on loopback in front of the lab, written
// for the tests: it records every request and can inject faults. The tool
// talks to it as its endpoint; the Host header it signed is passed on, so
// the lab's signature check still holds.
type proxy struct {
	srv *httptest.Server
	// caBundle trusts both the proxy's certificate and the lab's CA.
	caBundle string

	mu     sync.Mutex
	seen   []seenRequest
	faults func(r *http.Request, n int) fault // n counts requests of this kind so far
	counts map[string]int
}

type seenRequest struct {
	method, path, query string
	copySource          string
	kind                string // requestKind's
}

// fault is what the proxy does to one request instead of passing it on.
type fault int

const (
	pass       fault = iota
	slowDown         // answer 503 SlowDown, as S3 does when throttling
	tooMany          // answer 429
	reset            // drop the connection without an answer
	resetAfter       // pass the request on, then drop the connection instead of answering
	slow             // pass the request on after a pause
	hang             // answer nothing until the client gives up (at most a minute)
	passHang         // pass the request on, then answer nothing until the client gives up
)

func newProxy(t *testing.T, lab *labenv.Lab, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(lab.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p := &proxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host // the host the client signed
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		kind := requestKind(r)
		p.seen = append(p.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("x-amz-copy-source"), kind})
		p.counts[kind]++
		n, faults := p.counts[kind], p.faults
		p.mu.Unlock()
		f := pass
		if faults != nil {
			f = faults(r, n)
		}
		switch f {
		case slowDown:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
		case tooMany:
			w.WriteHeader(http.StatusTooManyRequests)
		case reset:
			dropConnection(w)
		case resetAfter:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			dropConnection(w)
		case slow:
			time.Sleep(300 * time.Millisecond)
			rp.ServeHTTP(w, r)
		case hang, passHang:
			if f == passHang {
				rp.ServeHTTP(httptest.NewRecorder(), r)
				p.mu.Lock()
				p.counts["passed:"+kind]++
				p.mu.Unlock()
			}
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	bundle := append([]byte{}, caPEM...)
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})...)
	p.caBundle = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p.caBundle, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dropConnection resets the client's connection (RST, not FIN) without an
// answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*tls.Conn); ok {
				if nc, ok := tc.NetConn().(*net.TCPConn); ok {
					nc.SetLinger(0)
				}
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// requestKind names an S3 operation well enough for counting.
func requestKind(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case strings.Contains(r.URL.Path, "/.s3backfill-probe/"):
		return "probe" // the checks' probe objects, not the copies
	case r.Method == http.MethodPut && q.Has("partNumber") && r.Header.Get("x-amz-copy-source") != "":
		return "UploadPartCopy"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut && r.Header.Get("x-amz-copy-source") != "":
		return "CopyObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodGet && q.Has("uploadId"):
		return "ListParts"
	case r.Method == http.MethodGet && q.Has("versions"):
		return "ListObjectVersions"
	default:
		return r.Method
	}
}

func (p *proxy) url() string { return p.srv.URL }

// total is the number of requests the proxy has seen.
func (p *proxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

func (p *proxy) count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[kind]
}

func (p *proxy) setFaults(f func(r *http.Request, n int) fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
}

// settle waits until the proxy has seen no new request for quiet (at
// most limit).
func (p *proxy) settle(quiet, limit time.Duration) {
	end := time.Now().Add(limit)
	last, since := p.total(), time.Now()
	for time.Now().Before(end) && time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if n := p.total(); n != last {
			last, since = n, time.Now()
		}
	}
}

// partNumbers counts the requests of a kind per partNumber, from the
// from-th request seen on.
func (p *proxy) partNumbers(kind string, from int) map[int32]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int32]int{}
	for _, s := range p.seen[from:] {
		if s.kind != kind {
			continue
		}
		q, _ := url.ParseQuery(s.query)
		if n, err := strconv.Atoi(q.Get("partNumber")); err == nil {
			out[int32(n)]++
		}
	}
	return out
}

// uploadIDs are the distinct upload ids of requests of a kind.
func (p *proxy) uploadIDs(kind string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range p.seen {
		q, _ := url.ParseQuery(s.query)
		id := q.Get("uploadId")
		if id == "" || seen[id] || s.kind != kind {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}
