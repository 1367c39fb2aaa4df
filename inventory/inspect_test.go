package inventory

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/planner"
)

// fakeHead answers HEAD as S3 does for one version encrypted with the key
// whose MD5 is keyMD5 ("" = SSE-S3, "missing" = 404): 400 without a key,
// 403 with another key. It records the key MD5 of each request.
func fakeHead(t *testing.T, keyMD5 string, tried *[]string) *s3.Client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("x-amz-server-side-encryption-customer-key-MD5")
		*tried = append(*tried, got)
		switch {
		case keyMD5 == "missing":
			w.WriteHeader(http.StatusNotFound)
		case keyMD5 == "" && got != "":
			w.WriteHeader(http.StatusBadRequest) // a key for a version that has none
		case keyMD5 == "":
			w.Header().Set("x-amz-server-side-encryption", "AES256")
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
		case got == "":
			w.WriteHeader(http.StatusBadRequest)
		case got != keyMD5:
			w.WriteHeader(http.StatusForbidden)
		default:
			w.Header().Set("x-amz-server-side-encryption-customer-algorithm", "AES256")
			w.Header().Set("x-amz-server-side-encryption-customer-key-MD5", got)
			w.Header().Set("Content-Length", "7")
			w.Header().Set("ETag", `"opaque"`)
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		HTTPClient: srv.Client(), Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
}

func testRing(t *testing.T) *planner.KeyRing {
	t.Helper()
	k := func(b byte) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune('A'+b)), 32)))
	}
	ring, err := planner.ParseKeyFile(strings.NewReader(`{"keys":[
		{"id":"one","key":"` + k(0) + `"},
		{"id":"two","key":"` + k(1) + `","prefixes":["Tax/"]},
		{"id":"three","key":"` + k(2) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestInspectFindsSSECKeyByPrefixThenTrial(t *testing.T) {
	ring := testRing(t)
	for _, tc := range []struct {
		key, opener string
		wantTried   []string // key ids in trial order after the keyless HEAD
	}{
		{"Tax/a", "two", []string{"two"}},                       // prefix match first
		{"other/a", "three", []string{"one", "two", "three"}},   // file order
		{"Tax/b", "one", []string{"two", "one"}},                // prefix first, then the rest
		{"nobody/a", "nobody", []string{"one", "two", "three"}}, // none opens it
	} {
		var tried []string
		md5 := "unknown-md5"
		if k := ring.ByID(tc.opener); k != nil {
			md5 = k.MD5()
		}
		c := fakeHead(t, md5, &tried)
		ins, err := Inspect(context.Background(), c, "b", tc.key, "v1", ring.Candidates(tc.key), false)
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		var ids []string
		for _, m := range tried[1:] {
			for _, id := range []string{"one", "two", "three"} {
				if ring.ByID(id).MD5() == m {
					ids = append(ids, id)
				}
			}
		}
		if tried[0] != "" || strings.Join(ids, ",") != strings.Join(tc.wantTried, ",") {
			t.Errorf("%s: tried %v (first %q), want keyless then %v", tc.key, ids, tried[0], tc.wantTried)
		}
		wantID := tc.opener
		if ring.ByID(tc.opener) == nil {
			wantID = ""
		}
		if ins.Encryption != planner.SSEC || ins.SSECKeyID != wantID || !ins.Inspected {
			t.Errorf("%s: %+v, want SSE-C opened by %q after %d calls", tc.key, ins, wantID, len(tried))
		}
	}
}

func TestInspectPlainAndErrors(t *testing.T) {
	var tried []string
	ins, err := Inspect(context.Background(), fakeHead(t, "", &tried), "b", "k", "v", testRing(t).Candidates("k"), false)
	if err != nil || ins.Encryption != planner.SSES3 || len(tried) != 1 {
		t.Errorf("SSE-S3: %+v, %v", ins, err)
	}
	tried = nil
	_, err = Inspect(context.Background(), fakeHead(t, "missing", &tried), "b", "k", "v", testRing(t).Candidates("k"), false)
	if err == nil || s3err.Status(err) != 404 || !strings.Contains(err.Error(), "k@v") || len(tried) != 1 {
		t.Errorf("404: %v after %d calls, want the error (no key trials)", err, len(tried))
	}
	if s3err.Status(errors.New("x")) != 0 {
		t.Error("httpStatus of a plain error")
	}
}

// TestInspectKeysFirst: with keysFirst, the first candidate is tried before
// the keyless HEAD: one request when it opens the version, a keyless HEAD
// after it when the version is not SSE-C (400), the other candidates
// without a keyless HEAD when it is SSE-C under another key (403).
func TestInspectKeysFirst(t *testing.T) {
	ring := testRing(t)
	for _, tc := range []struct {
		name, opener string // "" = SSE-S3
		wantCalls    int
		wantEnc      planner.Encryption
	}{
		{"first key opens", "one", 1, planner.SSEC},
		{"a later key opens", "three", 3, planner.SSEC},
		{"not SSE-C", "", 2, planner.SSES3},
	} {
		var tried []string
		md5 := ""
		if tc.opener != "" {
			md5 = ring.ByID(tc.opener).MD5()
		}
		c := fakeHead(t, md5, &tried)
		ins, err := Inspect(context.Background(), c, "b", "x/k", "v1", ring.Candidates("x/k"), true)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(tried) != tc.wantCalls || ins.Encryption != tc.wantEnc {
			t.Errorf("%s: %d calls (%q), encryption %s; want %d calls, %s", tc.name, len(tried), tried, ins.Encryption, tc.wantCalls, tc.wantEnc)
		}
		if tc.opener != "" && (ins.SSECKeyID != tc.opener || tried[0] == "") {
			t.Errorf("%s: opened by %q after trying %q", tc.name, ins.SSECKeyID, tried)
		}
	}
}
