package inventory

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// versionFake is a fake whose bucket "b" holds one version of key (none
// when o is nil).
func versionFake(t *testing.T, key, versionID string, o *s3fake.Object) (*s3fake.Server, *s3.Client) {
	t.Helper()
	f := s3fake.New(t)
	f.CreateBucket("b", true)
	if o != nil {
		v := *o
		v.VersionID = versionID
		f.Put("b", key, v)
	}
	return f, f.Client("inspector")
}

// ssecFake holds one version of key encrypted with the key whose MD5 is
// keyMD5 ("" = SSE-S3, "missing" = no version): S3 answers its HEAD 400
// without a key, 403 with another key.
func ssecFake(t *testing.T, key, versionID, keyMD5 string) (*s3fake.Server, *s3.Client) {
	t.Helper()
	switch keyMD5 {
	case "missing":
		return versionFake(t, key, versionID, nil)
	case "":
		return versionFake(t, key, versionID, &s3fake.Object{Size: 5, Header: map[string]string{"x-amz-server-side-encryption": "AES256"}})
	}
	return versionFake(t, key, versionID, &s3fake.Object{Size: 7, Header: map[string]string{
		"x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key-MD5": keyMD5}})
}

// triedKeys lists the SSE-C key MD5 each HEAD gave ("" for none), in order.
func triedKeys(f *s3fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		out = append(out, r.Header.Get("x-amz-server-side-encryption-customer-key-MD5"))
	}
	return out
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
		md5 := "unknown-md5"
		if k := ring.ByID(tc.opener); k != nil {
			md5 = k.MD5()
		}
		f, c := ssecFake(t, tc.key, "v1", md5)
		ins, err := Inspect(context.Background(), c, "b", tc.key, "v1", slices.Values(ring.Candidates(tc.key)), false)
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		tried := triedKeys(f)
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
	f, c := ssecFake(t, "k", "v", "")
	ins, err := Inspect(context.Background(), c, "b", "k", "v", slices.Values(testRing(t).Candidates("k")), false)
	if tried := triedKeys(f); err != nil || ins.Encryption != planner.SSES3 || len(tried) != 1 {
		t.Errorf("SSE-S3: %+v, %v after %d calls", ins, err, len(tried))
	}
	f, c = ssecFake(t, "k", "v", "missing")
	_, err = Inspect(context.Background(), c, "b", "k", "v", slices.Values(testRing(t).Candidates("k")), false)
	if tried := triedKeys(f); err == nil || s3err.Status(err) != 404 || !strings.Contains(err.Error(), "k@v") || len(tried) != 1 {
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
		md5 := ""
		if tc.opener != "" {
			md5 = ring.ByID(tc.opener).MD5()
		}
		f, c := ssecFake(t, "x/k", "v1", md5)
		ins, err := Inspect(context.Background(), c, "b", "x/k", "v1", slices.Values(ring.Candidates("x/k")), true)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tried := triedKeys(f)
		if len(tried) != tc.wantCalls || ins.Encryption != tc.wantEnc {
			t.Errorf("%s: %d calls (%q), encryption %s; want %d calls, %s", tc.name, len(tried), tried, ins.Encryption, tc.wantCalls, tc.wantEnc)
		}
		if tc.opener != "" && (ins.SSECKeyID != tc.opener || tried[0] == "") {
			t.Errorf("%s: opened by %q after trying %q", tc.name, ins.SSECKeyID, tried)
		}
	}
}
