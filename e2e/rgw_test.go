package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
	ctx := context.Background()
	src := lab.Bucket(t, c, "to-rgw-src", true)
	dst, err := labenv.NewBucket(ctx, rgw, "to-rgw-dst", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { labenv.Empty(rgw, dst) })
	oldKey, newKey := newCustomerKey("old", true, "ssec/"), newCustomerKey("new", true)
	oldKey.replicaKey = "new"
	r := mrand.New(mrand.NewPCG(15, 16))
	type put struct {
		key  string
		data []byte
		ssec *customerKey
	}
	puts := []put{{"plain/a", content(r, 1000), nil}, {"plain/a", content(r, 1001), nil}, {"ssec/b", content(r, 2000), oldKey},
		{"plain/big", content(r, 12<<20+9), nil}}
	for _, p := range puts {
		in := &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(p.key), Body: bytes.NewReader(p.data),
			ContentLength: aws.Int64(int64(len(p.data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = p.ssec.sseC()
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", p.key, err)
		}
	}
	key, secret := lab.RGWCredentials()
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"+
		"[rgw]\naws_access_key_id = %s\naws_secret_access_key = %s\n", lab.AccessKey(), lab.Secret(), key, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	// An SSE-S3 version: RGW (Pacific) accepts SSE-S3 and stores the
	// object unencrypted. The SSE-S3 probe finds out before the first copy,
	// and the run stops saying so; without SSE-S3 versions it copies.
	sses3 := []byte("sse-s3 version")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String("sse-s3/c"), Body: bytes.NewReader(sses3),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	keyFile := writeKeyFile(t, []*customerKey{oldKey, newKey})
	env := []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds}
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
	res := job(db, "--report", report, "--encryption", "NOT-SSE,SSE-C")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	// Every version, in order, reads back as the source's bytes.
	var got []string
	p := s3.NewListObjectVersionsPaginator(rgw, &s3.ListObjectVersionsInput{Bucket: aws.String(dst)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			in := &s3.GetObjectInput{Bucket: aws.String(dst), Key: v.Key, VersionId: v.VersionId}
			if strings.HasPrefix(aws.ToString(v.Key), "ssec/") {
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = newKey.sseC()
			}
			out, err := rgw.GetObject(ctx, in)
			if err != nil {
				t.Errorf("get replica %s: %v", aws.ToString(v.Key), err)
				continue
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s:%x", aws.ToString(v.Key), md5.Sum(b)))
		}
	}
	var want []string
	for _, p := range puts {
		want = append(want, fmt.Sprintf("%s:%x", p.key, md5.Sum(p.data)))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("replicas on RGW %v, want %v", got, want)
	}
	for _, row := range readDestReport(t, report).rows {
		want := "succeeded"
		if row["Key"] == "sse-s3/c" {
			want = "skipped"
		}
		if row["TaskStatus"] != want {
			t.Errorf("report %s@%s: %s %q, want %s", row["Key"], row["VersionId"], row["TaskStatus"], row["ResultMessage"], want)
		}
	}
}
