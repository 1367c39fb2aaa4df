package e2e

import (
	"bytes"
	"context"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// verifyRun runs verify (with --content if asked) and returns its result.
func verifyRun(t *testing.T, lab *labenv.Lab, out *outputs, db string, content bool) result {
	t.Helper()
	args := []string{"verify", "--db", db}
	if content {
		args = append(args, "--content")
	}
	return tool(t, lab, out, args...)
}

// mismatchLines are the "mismatch: ..." lines verify printed.
func mismatchLines(r result) []string {
	var out []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "mismatch: ") {
			out = append(out, l)
		}
	}
	return out
}

// TestVerifyCommandVersioned: after a run, verify and verify --content find
// every replica as it was made (every encryption type, SSE-C keys from the
// key file). A replica version deleted behind the tool's back is then
// listed as a mismatch (exit 3), and the report carries the result of
// every row.
func TestVerifyCommandVersioned(t *testing.T) {
	lab, c, w := newSource(t, "vfy-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "vfy-dst", true)
	r := mrand.New(mrand.NewPCG(41, 42))
	key := newCustomerKey("vfy", true)
	w.put(t, &srcVersion{key: "a/plain", data: content(r, 1000), enc: encNone})
	w.put(t, &srcVersion{key: "a/plain", data: content(r, 1001), enc: encS3})
	w.put(t, &srcVersion{key: "a/plain", data: content(r, 1002), enc: encNone})
	w.put(t, &srcVersion{key: "b/kms", data: content(r, 2000), enc: encKMS, kmsKey: lab.KMSKeys[1]})
	w.put(t, &srcVersion{key: "c/ssec", data: content(r, 3000), enc: encC, ssec: key})
	w.put(t, &srcVersion{key: "d/sse-s3", data: content(r, 4000), enc: encS3})
	w.del(t, "d/sse-s3")
	keyFile := writeKeyFile(t, []*customerKey{key})
	db, reportPath := jobFiles(t)
	var out outputs

	res := tool(t, lab, &out, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--keys", keyFile,
		"--replicate-kms", "--replica-kms-key-id", lab.KMSKeys[2], "--delete-markers", "--endpoint-url", lab.Endpoint)
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res)
	}
	pairs := checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		if v.enc == encKMS {
			return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(lab.KMSKeys[2])}
		}
		return expectation{status: "succeeded", enc: v.enc, ssec: v.ssec}
	}})
	for _, content := range []bool{false, true} {
		v := verifyRun(t, lab, &out, db, content)
		if v.code != 0 || len(mismatchLines(v)) > 0 || !strings.Contains(v.stdout, "0 mismatch") {
			t.Fatalf("verify (content %v) of an intact destination: exit %d, want 0 and no mismatch\n%s", content, v.code, v)
		}
		if want := "verified 7 replicas"; !strings.Contains(v.stdout, want) {
			t.Errorf("verify (content %v): want %q (every version, the delete marker included)\n%s", content, want, v)
		}
		if content && !strings.Contains(v.stdout, "SHA-256") {
			t.Errorf("verify --content does not say it compared the content:\n%s", v)
		}
	}

	// Behind the tool's back: the replica of the middle version of
	// a/plain, and the replica of the SSE-C version, are deleted.
	gone := []*srcVersion{w.versions["a/plain"][1], w.versions["c/ssec"][0]}
	for _, sv := range gone {
		if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(dst), Key: aws.String(sv.key),
			VersionId: aws.String(pairs[sv.versionID])}); err != nil {
			t.Fatal(err)
		}
	}
	for _, content := range []bool{false, true} {
		v := verifyRun(t, lab, &out, db, content)
		lines := mismatchLines(v)
		if v.code != 3 || len(lines) != len(gone) {
			t.Fatalf("verify (content %v) after deleting %d replicas: exit %d with %d mismatch lines, want 3 and %d\n%s",
				content, len(gone), v.code, len(lines), len(gone), v)
		}
		for _, sv := range gone {
			found := false
			for _, l := range lines {
				found = found || strings.Contains(l, sv.versionID) && strings.Contains(l, pairs[sv.versionID]) && strings.Contains(l, "gone")
			}
			if !found {
				t.Errorf("verify (content %v) does not list %s@%s (replica %s) as gone:\n%s", content, sv.key, sv.versionID, pairs[sv.versionID], v)
			}
		}
	}

	// The report written afterwards carries each row's verification.
	if rep := tool(t, lab, &out, "report", "--db", db, "-o", reportPath); rep.code != 0 {
		t.Fatalf("report: %s", rep)
	}
	report := readDestReport(t, reportPath)
	for _, key := range w.keys {
		for _, sv := range w.versions[key] {
			row := report.row(t, key, sv.versionID, dst)
			if row == nil {
				continue
			}
			wantStatus := "ok"
			for _, g := range gone {
				if g == sv {
					wantStatus = "mismatch"
				}
			}
			if row["VerifyStatus"] != wantStatus || row["VerifyMessage"] == "" {
				t.Errorf("report %s@%s: VerifyStatus %q (%q), want %s with a message", key, sv.versionID, row["VerifyStatus"], row["VerifyMessage"], wantStatus)
			}
		}
	}
	checkNoSecrets(t, []*customerKey{key}, append([]string{reportPath}, mustGlob(t, db+"*")...), out.all.Bytes())
}

// TestVerifyCommandUnversioned: in an unversioned destination, a replica
// key overwritten by someone else (other bytes of the same size, or of
// another size) is a mismatch of verify and of verify --content (exit 3);
// the untouched replica stays ok.
func TestVerifyCommandUnversioned(t *testing.T) {
	lab, c, w := newSource(t, "vfu-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "vfu-dst", false)
	r := mrand.New(mrand.NewPCG(43, 44))
	w.put(t, &srcVersion{key: "same-size", data: content(r, 500), enc: encNone})
	w.put(t, &srcVersion{key: "other-size", data: content(r, 600), enc: encS3})
	w.put(t, &srcVersion{key: "untouched", data: content(r, 700), enc: encNone})
	db, reportPath := jobFiles(t)

	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
		"--endpoint-url", lab.Endpoint)
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res)
	}
	for _, content := range []bool{false, true} {
		if v := verifyRun(t, lab, nil, db, content); v.code != 0 {
			t.Fatalf("verify (content %v) of an intact destination: exit %d\n%s", content, v.code, v)
		}
	}
	overwrite := map[string][]byte{
		"same-size":  bytes.Repeat([]byte{'x'}, 500),
		"other-size": bytes.Repeat([]byte{'y'}, 601),
	}
	for key, data := range overwrite {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(dst), Key: aws.String(key),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, content := range []bool{false, true} {
		v := verifyRun(t, lab, nil, db, content)
		lines := mismatchLines(v)
		if v.code != 3 || len(lines) != len(overwrite) {
			t.Fatalf("verify (content %v): exit %d with %d mismatch lines, want 3 and %d\n%s", content, v.code, len(lines), len(overwrite), v)
		}
		for key, why := range map[string]string{"same-size": "ETag", "other-size": "size 601, source 600"} {
			found := false
			for _, l := range lines {
				found = found || strings.Contains(l, "/"+key+" ") && strings.Contains(l, why)
			}
			if !found {
				t.Errorf("verify (content %v) does not list %s with %q:\n%s", content, key, why, v)
			}
		}
	}
	if rep := tool(t, lab, nil, "report", "--db", db, "-o", reportPath); rep.code != 0 {
		t.Fatalf("report: %s", rep)
	}
	report := readDestReport(t, reportPath)
	for _, key := range w.keys {
		row := report.row(t, key, w.versions[key][0].versionID, dst)
		wantStatus := "mismatch"
		if key == "untouched" {
			wantStatus = "ok"
		}
		if row != nil && row["VerifyStatus"] != wantStatus {
			t.Errorf("report %s: VerifyStatus %q (%q), want %s", key, row["VerifyStatus"], row["VerifyMessage"], wantStatus)
		}
	}
}
