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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestRGWBackfill: the core backfill against the second real server, Ceph
// RGW (Pacific), which lacks features MinIO and AWS have: versions and
// delete markers in order, a copy in parts, SSE-C versions re-keyed and
// SSE-KMS versions (RGW answers a server-side copy of an encrypted source
// 501 NotImplemented: they are streamed through this machine, and the
// report says why), copies in parts (an SSE-C one that re-keys is streamed
// in parts: RGW cannot re-key a part copy), the report, and a second run that copies nothing. An
// SDK client reads every replica back with its key.
func TestRGWBackfill(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.RGWClient()
	ctx := context.Background()
	bucket := func(prefix string) string {
		name, err := labenv.NewBucket(ctx, c, prefix, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { labenv.Empty(c, name) })
		return name
	}
	src, dst := bucket("rgw-src"), bucket("rgw-dst")
	r := mrand.New(mrand.NewPCG(15, 15))
	oldKey, newKey := newCustomerKey("old", true), newCustomerKey("new", true)
	oldKey.replicaKey = "new"
	type put struct {
		key  string
		data []byte
		ssec *customerKey
		kms  string
	}
	putIn := func(bucket string, p put) {
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(p.key), Body: bytes.NewReader(p.data),
			ContentLength: aws.Int64(int64(len(p.data)))}
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = p.ssec.sseC()
		if p.kms != "" {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(p.kms)
		}
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", p.key, err)
		}
	}
	var puts []put
	write := func(p put) {
		putIn(src, p)
		puts = append(puts, p)
	}
	// readBack reads the replica of p in bucket (SSE-C ones re-keyed);
	// false when it cannot be read (the test is failed).
	readBack := func(bucket string, p put) (*s3.GetObjectOutput, []byte, bool) {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(p.key)}
		if p.ssec != nil {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = newKey.sseC() // re-keyed
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			t.Errorf("get replica %s: %v", p.key, err)
			return nil, nil, false
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Errorf("read replica %s: %v", p.key, err)
			return nil, nil, false
		}
		return out, b, true
	}
	for v := range 3 {
		write(put{key: "plain/a", data: content(r, 100+v)})
	}
	write(put{key: "plain/gone", data: content(r, 50)})
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String("plain/gone")}); err != nil {
		t.Fatal(err)
	}
	write(put{key: "big/one", data: content(r, 12<<20+3)})
	for v := range 2 {
		write(put{key: "ssec/x", data: content(r, 64+v), ssec: oldKey})
	}
	write(put{key: "kms/y", data: content(r, 70), kms: lab.RGWKMSKeys[0]})

	db, report := jobFiles(t)
	keyFile := writeKeyFile(t, []*customerKey{oldKey, newKey})
	args := []string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--report", report, "--keys", keyFile,
		"--endpoint-url", lab.RGW, "--replicate-kms", "--replica-kms-key-id", lab.RGWKMSKeys[1], "--delete-markers",
		"--multipart-threshold", "8MiB", "--part-size", "5MiB"}
	res := toolEnv(t, lab, nil, lab.RGWEnv, args...)
	if res.code != 0 {
		t.Fatalf("%s", res)
	}

	// Every key's history, in order, on the destination.
	history := func(bucket string) map[string][]string {
		out := map[string][]string{}
		p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				out[aws.ToString(v.Key)] = append(out[aws.ToString(v.Key)], fmt.Sprintf("v%d", aws.ToInt64(v.Size)))
			}
			for _, d := range page.DeleteMarkers {
				out[aws.ToString(d.Key)] = append(out[aws.ToString(d.Key)], "dm")
			}
		}
		return out
	}
	if s, d := history(src), history(dst); fmt.Sprint(s) != fmt.Sprint(d) {
		t.Errorf("histories differ:\nsource %v\nreplica %v", s, d)
	}
	// The latest version of each key reads back as the source's bytes,
	// with the replica's key.
	latest := map[string]put{}
	for _, p := range puts {
		latest[p.key] = p
	}
	for key, p := range latest {
		if key == "plain/gone" {
			continue
		}
		out, b, ok := readBack(dst, p)
		if !ok {
			continue
		}
		if !bytes.Equal(b, p.data) {
			t.Errorf("replica %s: %d bytes differ from the source's %d", key, len(b), len(p.data))
		}
		if p.kms != "" && (out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != lab.RGWKMSKeys[1]) {
			t.Errorf("replica %s: %s under %q, want SSE-KMS under %s", key, out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId), lab.RGWKMSKeys[1])
		}
	}
	for _, row := range readDestReport(t, report).rows {
		streamed := strings.Contains(row["ResultMessage"], "streamed: this endpoint does not implement server-side copy of")
		// RGW copies parts of an SSE-KMS source (UploadPartCopy), not whole
		// ones (CopyObject).
		if want := strings.HasPrefix(row["Key"], "ssec/") || row["Key"] == "kms/y"; streamed != want || row["TaskStatus"] != "succeeded" {
			t.Errorf("report %s@%s: %s %q", row["Key"], row["VersionId"], row["TaskStatus"], row["ResultMessage"])
		}
	}
	// Copies in parts of encrypted sources: RGW copies the SSE-KMS one's
	// parts server-side, but answers 400 to a part copy that re-keys an
	// SSE-C source, which is then streamed in parts, each part's CRC32 in
	// a header (RGW refuses the SDK's trailers).
	src2, dst2 := bucket("rgw-src2"), bucket("rgw-dst2")
	bigs := map[string]put{
		"kms/big":  {key: "kms/big", data: content(r, 12<<20+5), kms: lab.RGWKMSKeys[0]},
		"ssec/big": {key: "ssec/big", data: content(r, 12<<20+7), ssec: oldKey},
	}
	for _, p := range bigs {
		putIn(src2, p)
	}
	db2, report2 := jobFiles(t)
	inParts := toolEnv(t, lab, nil, lab.RGWEnv, "run", "--source", "s3://"+src2, "--dest", "s3://"+dst2, "--db", db2, "--keys", keyFile,
		"--report", report2, "--endpoint-url", lab.RGW, "--replicate-kms", "--replica-kms-key-id", lab.RGWKMSKeys[1],
		"--multipart-threshold", "8MiB", "--part-size", "5MiB")
	if inParts.code != 0 {
		t.Fatalf("run of the large versions: %s", inParts)
	}
	for _, row := range readDestReport(t, report2).rows {
		want := "copied by UploadPartCopy (3 parts)"
		if row["Key"] == "ssec/big" {
			want = "streamed: this endpoint does not re-key SSE-C sources in server-side copies of parts"
		}
		if !strings.Contains(row["ResultMessage"], want) {
			t.Errorf("report %s: %q, want %q", row["Key"], row["ResultMessage"], want)
		}
	}
	for key, p := range bigs {
		got, b, ok := readBack(dst2, p)
		if !ok {
			continue
		}
		if !bytes.Equal(b, p.data) || !strings.HasSuffix(aws.ToString(got.ETag), `-3"`) {
			t.Errorf("replica %s: %d bytes (want %d), ETag %s (want 3 parts)", key, len(b), len(p.data), aws.ToString(got.ETag))
		}
		if p.kms != "" && aws.ToString(got.SSEKMSKeyId) != lab.RGWKMSKeys[1] {
			t.Errorf("replica %s: under %q, want %s", key, aws.ToString(got.SSEKMSKeyId), lab.RGWKMSKeys[1])
		}
	}

	before := history(dst)
	if again := toolEnv(t, lab, nil, lab.RGWEnv, "run", "--db", db, "--keys", keyFile); again.code != 0 {
		t.Fatalf("second run: %s", again)
	}
	if after := history(dst); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the second run changed the destination: %v -> %v", before, after)
	}
}

// TestRGWKilledAndResumed: a run on RGW killed (SIGKILL) in the middle is
// resumed by the next: every version copied once, in order (RGW's copy
// answers name no version: what the killed run made is found by listing).
func TestRGWKilledAndResumed(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.RGWClient()
	ctx := context.Background()
	var buckets []string
	for _, p := range []string{"rgw-kill-src", "rgw-kill-dst"} {
		name, err := labenv.NewBucket(ctx, c, p, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { labenv.Empty(c, name) })
		buckets = append(buckets, name)
	}
	src, dst := buckets[0], buckets[1]
	want := map[string]int{}
	for k := range 30 {
		key := fmt.Sprintf("k/%02d", k)
		for v := range 1 + k%3 {
			body := []byte(fmt.Sprintf("%d.%d", k, v))
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: bytes.NewReader(body),
				ContentLength: aws.Int64(int64(len(body)))}); err != nil {
				t.Fatal(err)
			}
			want[key]++
		}
	}
	db, _ := jobFiles(t)
	args := []string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--endpoint-url", lab.RGW,
		"--workers", "2", "--max-requests-per-second", "15"}
	cmd, out := startEnv(t, lab, lab.RGWEnv, args...)
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if res := toolEnv(t, lab, nil, lab.RGWEnv, "run", "--db", db); res.code != 0 {
		t.Fatalf("the run after the kill: %s\n(the killed run said:\n%s)", res, out)
	}
	got := map[string]int{}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(dst)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			got[aws.ToString(v.Key)]++
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("versions per key on the destination %v, want each once: %v", got, want)
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
