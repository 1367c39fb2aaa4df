package s3client

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
)

// testEnv gives the SDK static credentials and no other configuration.
func testEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_CA_BUNDLE"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// caFile writes a TLS test server's certificate as a CA bundle.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// trap is a host that must never be reached: it counts connections.
func trap(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK) // a forged success
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

var (
	testKey    = strings.Repeat("k", 32)
	testKeyB64 = base64.StdEncoding.EncodeToString([]byte(testKey))
)

// withKey sends the SSE-C headers of testKey on a HEAD.
func withKey(in *s3.HeadObjectInput) *s3.HeadObjectInput {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(testKeyB64), aws.String("bWQ1")
	return in
}

// TestNoRedirectIsFollowed: an endpoint answering 307 (and 308, 301, 302)
// with a Location on another host gets an error naming the status and
// that host; the other host sees no request, so neither the key nor a
// forged answer crosses.
func TestNoRedirectIsFollowed(t *testing.T) {
	testEnv(t)
	other, hits := trap(t)
	for _, status := range []int{307, 308, 301, 302} {
		var asked atomic.Int64
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			w.Header().Set("Location", other.URL+r.URL.RequestURI())
			w.WriteHeader(status)
		}))
		c, err := New(context.Background(), Options{SourceEndpoint: srv.URL, DestEndpoint: srv.URL, CABundle: caFile(t, srv), MaxInFlight: 2, SSEC: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Source.HeadObject(context.Background(), withKey(&s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}))
		_, cerr := c.Dest.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("k"),
			CopySource: aws.String("b/k?versionId=v"), CopySourceSSECustomerAlgorithm: aws.String("AES256"),
			CopySourceSSECustomerKey: aws.String(testKeyB64), CopySourceSSECustomerKeyMD5: aws.String("bWQ1")})
		srv.Close()
		for _, err := range []error{err, cerr} {
			if err == nil {
				t.Fatalf("%d: a redirect was followed to a success", status)
			}
			if status == 307 || status == 308 {
				code, _, class := s3err.Classify(err)
				if code != "RedirectRefused" || class != s3err.Permanent || !strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) {
					t.Errorf("%d: %q (code %q, class %d), want a permanent RedirectRefused naming the other host", status, err, code, class)
				}
			}
			if strings.Contains(err.Error(), testKeyB64) {
				t.Errorf("%d: the error holds the key", status)
			}
		}
		if n := asked.Load(); n != 2 {
			t.Errorf("%d: the endpoint was asked %d times, want 2 (no retries of a refused redirect)", status, n)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host a redirect named received %d request(s)", n)
	}
}

// TestKeysOverHTTPRefused: an http endpoint with keys loaded is refused
// before any request, whether the flag, AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL names it; and the transport refuses to send a key over
// http even when that check is bypassed.
func TestKeysOverHTTPRefused(t *testing.T) {
	testEnv(t)
	srv, hits := trap(t)
	ctx := context.Background()
	if _, err := New(ctx, Options{SourceEndpoint: srv.URL, DestEndpoint: srv.URL, MaxInFlight: 2, SSEC: true}); err == nil ||
		!strings.Contains(err.Error(), "https only") || !strings.Contains(err.Error(), "from the flags") {
		t.Errorf("an http endpoint from the flags with keys: %v, want a refusal", err)
	}
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Setenv(env, srv.URL)
		if _, err := New(ctx, Options{MaxInFlight: 2, SSEC: true, Region: "us-east-1"}); err == nil ||
			!strings.Contains(err.Error(), "https only") || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL") {
			t.Errorf("an http endpoint from %s with keys: %v, want a refusal naming where it came from", env, err)
		}
		os.Unsetenv(env)
	}
	// The second wall: no key leaves over http, whatever the caller did.
	c, err := New(ctx, Options{SourceEndpoint: srv.URL, DestEndpoint: srv.URL, MaxInFlight: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Source.HeadObject(ctx, withKey(&s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}))
	if code, _, class := s3err.Classify(err); code != "InsecureKeyTransport" || class != s3err.Permanent {
		t.Errorf("a key over http: %v (code %q), want InsecureKeyTransport, permanent", err, code)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the http endpoint received %d request(s) carrying a key", n)
	}
	// Without a key, http works (a server of the user's choosing).
	if _, err := c.Source.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}); err != nil || hits.Load() != 1 {
		t.Errorf("a keyless HEAD over http: %v, %d requests", err, hits.Load())
	}
}

// TestEndpointWithUserInfoRefused: credentials in an endpoint URL are
// refused, and the error does not repeat the password.
func TestEndpointWithUserInfoRefused(t *testing.T) {
	testEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", "https://user:hunter2@s3.example.com")
	_, err := New(context.Background(), Options{MaxInFlight: 2, Region: "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), "user info") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an endpoint with user info: %v, want a refusal without the password", err)
	}
}

// TestRetrySpan: the waits between attempts add up to at least the span
// asked for, and at most about twice it; each wait is in the upper half of
// its ceiling, which doubles from a second up to the longest wait.
func TestRetrySpan(t *testing.T) {
	for _, span := range []time.Duration{time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute} {
		n := attemptsFor(span)
		var least, most time.Duration
		for a := 1; a < n; a++ {
			least += ceiling(a) / 2
			most += ceiling(a)
		}
		if least < span || most > 2*span+2*retryMaxBackoff {
			t.Errorf("retry for %s: %d attempts wait %s to %s", span, n, least, most)
		}
	}
	for a := 1; a < 40; a++ {
		c := ceiling(a)
		if a > 1 && c < ceiling(a-1) || c > retryMaxBackoff {
			t.Errorf("ceiling(%d) = %s", a, c)
		}
		for range 20 {
			if d, _ := (backoff{}).BackoffDelay(a, nil); d < c/2 || d > c {
				t.Errorf("wait %s before attempt %d, want %s..%s", d, a+1, c/2, c)
			}
		}
	}
}
