package e2e

import (
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestRGWRekeyedParts: copies in parts of encrypted sources on RGW, in a
// job with no smaller encrypted version to learn from first (the core
// scenarios, TestCoreMatrix, run on RGW as well). RGW copies the SSE-KMS
// source's parts server-side, but answers 400 to a part copy that re-keys an
// SSE-C source (it decrypts with the replica's key): that version is then
// streamed in parts, each part's CRC32 in a header, and the report says why.
func TestRGWRekeyedParts(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.RGWClient()
	src, dst := lab.Bucket(t, c, "rgw-parts-src", true), lab.Bucket(t, c, "rgw-parts-dst", true)
	w := newWorld(c, src)
	r := mrand.New(mrand.NewPCG(15, 15))
	oldKey, newKey := newCustomerKey("old", true), newCustomerKey("new", true)
	oldKey.replicaKey = "new"
	w.put(t, &srcVersion{key: "kms/big", data: content(r, 12<<20+5), enc: encKMS, kmsKey: lab.RGWKMSKeys[0]})
	w.put(t, &srcVersion{key: "ssec/big", data: content(r, 12<<20+7), enc: encC, ssec: oldKey})
	db, report := jobFiles(t)
	res := toolEnv(t, lab, nil, lab.RGWEnv, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db,
		"--keys", writeKeyFile(t, []*customerKey{oldKey, newKey}), "--report", report, "--endpoint-url", lab.RGW,
		"--replicate-kms", "--replica-kms-key-id", lab.RGWKMSKeys[1], "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, report: readDestReport(t, report), expect: func(v *srcVersion) expectation {
		if v.enc == encKMS {
			return expectation{status: "succeeded", enc: encKMS, kms: lab.RGWKMSKeys[1], messages: []string{"copied by UploadPartCopy (3 parts)"}}
		}
		return expectation{status: "succeeded", enc: encC, ssec: newKey,
			messages: []string{"streamed: this endpoint does not re-key SSE-C sources in server-side copies of parts"}}
	}})
	for key, vs := range listVersions(t, c, dst) {
		k := newKey
		if key == "kms/big" {
			k = nil
		}
		if h := headVersion(t, c, dst, key, vs[0].versionID, k); h != nil && !strings.HasSuffix(aws.ToString(h.ETag), `-3"`) {
			t.Errorf("replica %s: ETag %s, want 3 parts", key, aws.ToString(h.ETag))
		}
	}
}

// TestStreamMinIOToRGW: versions of a MinIO source that carry checksums
// (CRC32C), streamed to RGW with another profile's credentials. Each
// upload sends its checksum in a header and Content-MD5 (RGW refuses the
// SDK's aws-chunked trailers and keeps no checksums), single PUTs and
// parts alike; SSE-C ones are re-keyed. An SDK client reads every replica
// back. A job that would copy an SSE-S3 version stops before copying: RGW
// ignores SSE-S3, as the probe shows.
func TestStreamMinIOToRGW(t *testing.T) {
	lab := labenv.Get(t)
	c, rgw := lab.Client(), lab.RGWClient()
	src, dst := lab.Bucket(t, c, "to-rgw-src", true), lab.Bucket(t, rgw, "to-rgw-dst", true)
	w := newWorld(c, src)
	oldKey, newKey := newCustomerKey("old", true, "ssec/"), newCustomerKey("new", true)
	oldKey.replicaKey = "new"
	r := mrand.New(mrand.NewPCG(15, 16))
	crc := types.ChecksumAlgorithmCrc32c
	w.put(t, &srcVersion{key: "plain/a", data: content(r, 1000), enc: encNone, checksum: crc})
	w.put(t, &srcVersion{key: "plain/a", data: content(r, 1001), enc: encNone, checksum: crc})
	w.put(t, &srcVersion{key: "ssec/b", data: content(r, 2000), enc: encC, ssec: oldKey, checksum: crc})
	w.put(t, &srcVersion{key: "plain/big", data: content(r, 12<<20+9), enc: encNone, checksum: crc})
	// An SSE-S3 version: RGW (Pacific) accepts SSE-S3 and stores the
	// object unencrypted. The SSE-S3 probe finds out before the first copy,
	// and the run stops saying so; without SSE-S3 versions it copies.
	w.put(t, &srcVersion{key: "sse-s3/c", data: []byte("sse-s3 version"), enc: encS3})
	key, secret := lab.RGWCredentials()
	env := credentialsEnv(t, [3]string{"default", lab.AccessKey(), lab.Secret()}, [3]string{"rgw", key, secret})
	keyFile := writeKeyFile(t, []*customerKey{oldKey, newKey})
	job := func(db string, more ...string) result {
		return toolEnv(t, lab, nil, env, append([]string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst,
			"--db", db, "--keys", keyFile, "--source-endpoint-url", lab.Endpoint, "--dest-endpoint-url", lab.RGW, "--dest-profile", "rgw",
			"--multipart-threshold", "8MiB", "--part-size", "5MiB"}, more...)...)
	}
	stopped, _ := jobFiles(t)
	if res := job(stopped); res.code != 1 || !strings.Contains(res.stderr, "written with SSE-S3 but stored it unencrypted") ||
		!strings.Contains(res.stderr, "nothing was copied") {
		t.Errorf("a job with SSE-S3 versions: want exit 1, the SSE-S3 probe's problem\n%s", res)
	}
	if n := len(listVersions(t, rgw, dst)); n != 0 {
		t.Fatalf("the stopped run left %d keys on RGW (the probe's included)", n)
	}
	db, report := jobFiles(t)
	if res := job(db, "--report", report, "--encryption", "NOT-SSE,SSE-C"); res.code != 0 {
		t.Fatalf("%s", res)
	}
	// Every version, in order, reads back as the source's bytes.
	checkReplicas(t, w, rgw, replicaCheck{dest: dst, report: readDestReport(t, report), expect: func(v *srcVersion) expectation {
		switch v.enc {
		case encS3:
			return expectation{status: "skipped"}
		case encC:
			return expectation{status: "succeeded", enc: encC, ssec: newKey}
		}
		return expectation{status: "succeeded", enc: encNone}
	}})
}
