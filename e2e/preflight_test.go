package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const kmsProbePrefix = ".s3backfill-probe/"

// TestPreflightMissingKMSKey: a replica KMS key the destination cannot use
// stops the run before anything is copied (exit 1), with a message that
// names the key and the bucket; check says the same. With --no-probe
// the run goes on and the KMS version fails on its own while the others
// are copied. With a usable key the probe leaves nothing behind.
func TestPreflightMissingKMSKey(t *testing.T) {
	lab, c, w := newSource(t, "pfk-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "pfk-dst", true)
	r := mrand.New(mrand.NewPCG(21, 22))
	w.put(t, &srcVersion{key: "plain", data: content(r, 100), enc: encNone})
	w.put(t, &srcVersion{key: "kms", data: content(r, 100), enc: encKMS, kmsKey: lab.KMSKeys[1]})
	w.put(t, &srcVersion{key: "kms", data: content(r, 101), enc: encS3})
	db, reportPath := jobFiles(t)
	const badKey = "no-such-key"

	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
		"--replicate-kms", "--replica-kms-key-id", badKey, "--endpoint-url", lab.Endpoint)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 (the checks before copying failed)\n%s", res.code, res)
	}
	for _, s := range []string{`"` + badKey + `"`, dst, "nothing was copied", "--no-probe"} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("the run's message lacks %q:\n%s", s, res.stderr)
		}
	}
	wantEmpty(t, c, dst, "after a run stopped by the KMS check (the probe object included)")

	chk := tool(t, lab, nil, "check", "--db", db)
	if chk.code != 1 || !strings.Contains(chk.stdout, "PROBLEM") || !strings.Contains(chk.stdout, `"`+badKey+`"`) {
		t.Errorf("check: exit %d, want 1 with a PROBLEM line naming %s\n%s", chk.code, badKey, chk)
	}
	wantEmpty(t, c, dst, "after check")

	// Without the probe (--no-kms-probe, the old name of --no-probe) the
	// run goes on: the KMS version fails with an error of its own, the key's newer version waits for it, the rest is
	// copied.
	res = tool(t, lab, nil, "run", "--db", db, "--no-kms-probe")
	if res.code != 3 {
		t.Fatalf("--no-kms-probe: exit %d, want 3 (the KMS version fails)\n%s", res.code, res)
	}
	rep := readDestReport(t, reportPath)
	checkReplicas(t, w, c, replicaCheck{dest: dst, report: rep, expect: func(v *srcVersion) expectation {
		switch {
		case v.key == "plain":
			return expectation{status: "succeeded", enc: encNone}
		case v.enc == encKMS:
			return expectation{status: "failed"}
		default:
			return expectation{status: "failed", code: "PrecedingVersionFailed"}
		}
	}})
	kmsRow := rep.row(t, "kms", w.versions["kms"][0].versionID, dst)
	if kmsRow != nil {
		if kmsRow["ErrorCode"] == "" || kmsRow["HTTPStatusCode"] == "" || kmsRow["HTTPStatusCode"] == "200" {
			t.Errorf("the failed KMS version has no error code or status: %v", kmsRow)
		}
		if !strings.Contains(kmsRow["ResultMessage"]+kmsRow["ErrorCode"], badKey) &&
			!strings.Contains(strings.ToLower(kmsRow["ResultMessage"]+kmsRow["ErrorCode"]), "kms") {
			t.Errorf("the failed KMS version's error says neither KMS nor the key: %s %q", kmsRow["ErrorCode"], kmsRow["ResultMessage"])
		}
		t.Logf("the KMS version failed with %s %s %q", kmsRow["ErrorCode"], kmsRow["HTTPStatusCode"], kmsRow["ResultMessage"])
	}
	// The job now has --no-kms-probe: check does not probe either.
	if chk := tool(t, lab, nil, "check", "--db", db); chk.code != 0 || !strings.Contains(chk.stdout, "ok") {
		t.Errorf("check of a job with --no-kms-probe: exit %d, want 0\n%s", chk.code, chk)
	}

	// A usable key: the probe passes and removes its object for good
	// (no version, no delete marker left).
	dst2 := lab.Bucket(t, c, "pfk-ok", true)
	db2 := filepath.Join(t.TempDir(), "ok.db")
	chk = tool(t, lab, nil, "check", "--source", "s3://"+src, "--dest", "s3://"+dst2, "--db", db2,
		"--replicate-kms", "--replica-kms-key-id", lab.KMSKeys[2], "--endpoint-url", lab.Endpoint)
	if chk.code != 0 || !strings.HasPrefix(chk.stdout, "ok") {
		t.Errorf("check with a usable key: exit %d, want 0 and ok\n%s", chk.code, chk)
	}
	wantEmpty(t, c, dst2, "after check's KMS probe")
	res = tool(t, lab, nil, "run", "--db", db2)
	if res.code != 0 {
		t.Fatalf("run with a usable key: exit %d\n%s", res.code, res)
	}
	if left := keysUnder(t, c, dst2, kmsProbePrefix); len(left) > 0 {
		t.Errorf("the KMS probe left %v in %s", left, dst2)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst2, expect: func(v *srcVersion) expectation {
		if v.enc == encKMS {
			return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(lab.KMSKeys[2])}
		}
		return expectation{status: "succeeded", enc: v.enc}
	}})
}

// TestPreflightUnversionedDestination: an unversioned destination is a
// warning that names the bucket (the history cannot be kept), not a
// problem: check exits 0 and the run copies, leaving the source's current
// version as the replica's.
func TestPreflightUnversionedDestination(t *testing.T) {
	lab, c, w := newSource(t, "pfu-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "pfu-dst", false)
	r := mrand.New(mrand.NewPCG(23, 24))
	w.put(t, &srcVersion{key: "k1", data: content(r, 100), enc: encNone})
	w.put(t, &srcVersion{key: "k1", data: content(r, 200), enc: encS3})
	w.put(t, &srcVersion{key: "k2", data: content(r, 300), enc: encNone})
	db, reportPath := jobFiles(t)

	chk := tool(t, lab, nil, "check", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
		"--endpoint-url", lab.Endpoint)
	if chk.code != 0 || !strings.Contains(chk.stdout, "warning") || !strings.Contains(chk.stdout, `"`+dst+`"`) ||
		!strings.Contains(chk.stdout, "versioning") || strings.Contains(chk.stdout, "PROBLEM") {
		t.Errorf("check: exit %d, want 0 with a versioning warning naming %s\n%s", chk.code, dst, chk)
	}
	res := tool(t, lab, nil, "run", "--db", db)
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res)
	}
	if !strings.Contains(res.stderr, dst) || !strings.Contains(res.stderr, "versioning") {
		t.Errorf("the run does not warn that %s is unversioned:\n%s", dst, res.stderr)
	}
	for _, key := range w.keys {
		vs := w.versions[key]
		last := vs[len(vs)-1]
		data, h := getVersion(t, c, dst, key, "null", nil)
		if h != nil && string(data) != string(last.data) {
			t.Errorf("%s/%s: %d bytes, not the source's current version (%d bytes)", dst, key, len(data), len(last.data))
		}
	}
	rep := readDestReport(t, reportPath)
	rep.checkShape(t, w.total())
	for _, m := range rep.rows {
		if m["TaskStatus"] != "succeeded" {
			t.Errorf("report %s@%s: %s %q", m["Key"], m["VersionId"], m["TaskStatus"], m["ResultMessage"])
		}
	}

	// An unversioned source is a warning too.
	src2 := lab.Bucket(t, c, "pfu-src2", false)
	chk = tool(t, lab, nil, "check", "--source", "s3://"+src2, "--dest", "s3://"+dst, "--db", filepath.Join(t.TempDir(), "two.db"),
		"--endpoint-url", lab.Endpoint)
	if chk.code != 0 || !strings.Contains(chk.stdout, `source bucket "`+src2+`"`) {
		t.Errorf("check with an unversioned source: exit %d, want 0 with a warning naming %s\n%s", chk.code, src2, chk)
	}
}

// TestPreflightMissingBuckets: a source or destination bucket that does
// not exist stops run (exit 1) and check (exit 1) with a message naming
// it; with a configuration of two destinations one missing bucket stops
// the whole job, and every missing bucket is named in one list.
func TestPreflightMissingBuckets(t *testing.T) {
	lab, c, w := newSource(t, "pfm-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "pfm-dst", true)
	r := mrand.New(mrand.NewPCG(25, 26))
	w.put(t, &srcVersion{key: "k", data: content(r, 10), enc: encNone})
	missingSrc, missingDst := "no-such-src-"+randBucketSuffix(), "no-such-dst-"+randBucketSuffix()

	missingCfg := writeConfig(t, jsonObject{"Rules": []jsonObject{
		{"ID": "there", "Priority": 1, "Status": "Enabled", "Filter": jsonObject{}, "DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
			"Destination": jsonObject{"Bucket": bucketARN(dst)}},
		{"ID": "not-there", "Priority": 2, "Status": "Enabled", "Filter": jsonObject{}, "DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
			"Destination": jsonObject{"Bucket": bucketARN(missingDst)}},
	}})
	for _, tc := range []struct {
		name  string
		args  []string
		names []string // buckets the message must name as missing
	}{
		{"source", []string{"--source", "s3://" + missingSrc, "--dest", "s3://" + dst}, []string{missingSrc}},
		{"destination", []string{"--source", "s3://" + src, "--dest", "s3://" + missingDst}, []string{missingDst}},
		{"both", []string{"--source", "s3://" + missingSrc, "--dest", "s3://" + missingDst}, []string{missingSrc, missingDst}},
		{"one-of-two-destinations", []string{"--source", "s3://" + src, "--replication-config", missingCfg}, []string{missingDst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, cmd := range []string{"check", "run"} {
				args := append([]string{cmd, "--db", filepath.Join(dir, cmd+".db"), "--endpoint-url", lab.Endpoint}, tc.args...)
				res := tool(t, lab, nil, args...)
				if res.code != 1 {
					t.Errorf("%s: exit %d, want 1\n%s", cmd, res.code, res)
				}
				out := res.stdout + res.stderr
				for _, b := range tc.names {
					if !strings.Contains(out, `"`+b+`"`) || !strings.Contains(out, "does not exist") {
						t.Errorf("%s: the message does not say that bucket %s does not exist:\n%s", cmd, b, res)
					}
				}
				if cmd == "check" && !strings.Contains(res.stdout, "PROBLEM") {
					t.Errorf("check prints no PROBLEM line:\n%s", res)
				}
			}
			wantEmpty(t, c, dst, "after a job stopped by a missing bucket")
			if _, err := c.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(missingDst)}); err == nil {
				t.Errorf("bucket %s was created", missingDst)
			}
		})
	}
}

func randBucketSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
