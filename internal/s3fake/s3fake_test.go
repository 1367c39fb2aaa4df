package s3fake_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/s3fake"
)

var ctx = context.Background()

// ssecKey is an SSE-C key: the header value and its MD5.
func ssecKey(seed string) (key, sum string) {
	raw := md5.Sum([]byte(seed))
	k := append(raw[:], raw[:]...)
	s := md5.Sum(k)
	return base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(s[:])
}

func status(err error) int { return s3err.Status(err) }

func TestSSECHead(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true)
	key, sum := ssecKey("a")
	other, otherSum := ssecKey("b")
	f.Put("b", "k", s3fake.Object{VersionID: "v1", Size: 9, Header: map[string]string{
		"x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key-MD5": sum}})
	f.Put("b", "plain", s3fake.Object{VersionID: "p1", Size: 3})
	c := f.Client("me")
	head := func(k, vid, key, sum string) (*s3.HeadObjectOutput, error) {
		in := &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String(k), VersionId: aws.String(vid)}
		if key != "" {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(key), aws.String(sum)
		}
		return c.HeadObject(ctx, in)
	}
	if _, err := head("k", "v1", "", ""); status(err) != 400 {
		t.Errorf("HEAD without a key: %v, want 400", err)
	}
	if _, err := head("k", "v1", other, otherSum); status(err) != 403 {
		t.Errorf("HEAD with another key: %v, want 403", err)
	}
	if _, err := head("plain", "p1", key, sum); status(err) != 400 {
		t.Errorf("HEAD of a plain version with a key: %v, want 400", err)
	}
	out, err := head("k", "v1", key, sum)
	if err != nil || aws.ToInt64(out.ContentLength) != 9 || aws.ToString(out.SSECustomerKeyMD5) != sum || aws.ToString(out.VersionId) != "v1" {
		t.Fatalf("HEAD with the key: %+v, %v", out, err)
	}
	if etag := aws.ToString(out.ETag); etag == s3fake.ETagOf(s3fake.Fill(9)) || len(etag) != 34 {
		t.Errorf("SSE-C ETag %s, want opaque", etag)
	}
	if r := f.Requests()[0]; r.Op != "HeadObject" || r.Client != "me" || r.Status != 400 || len(r.ReplyBody) != 0 {
		t.Errorf("first request logged as %+v", s3fake.Describe([]s3fake.Request{r}))
	}
}

func TestListingPages(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true, s3fake.MaxKeys(2))
	for _, e := range []struct {
		key, vid string
		dm       bool
	}{{"a", "a1", false}, {"a", "am", true}, {"a", "a2", false}, {"b", "b1", false}, {"c/x", "c1", false}, {"a", "a3", false}} {
		f.Put("b", e.key, s3fake.Object{VersionID: e.vid, DeleteMarker: e.dm, Size: 1})
	}
	var got []string
	p := s3.NewListObjectVersionsPaginator(f.Client("me"), &s3.ListObjectVersionsInput{Bucket: aws.String("b")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			got = append(got, aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId))
		}
		for _, d := range page.DeleteMarkers {
			got = append(got, aws.ToString(d.Key)+"@"+aws.ToString(d.VersionId)+"(dm)")
		}
	}
	// Two entries a page: within a page versions come before markers.
	if want := "a@a3 a@a2 a@a1 a@am(dm) b@b1 c/x@c1"; strings.Join(got, " ") != want {
		t.Errorf("listing %s, want %s", strings.Join(got, " "), want)
	}
	lists := f.Ops("ListObjectVersions")
	if len(lists) != 3 || lists[1].Query.Get("key-marker") != "a" || lists[1].Query.Get("version-id-marker") != "a2" {
		t.Errorf("pages %v", s3fake.Describe(lists))
	}
	if !strings.Contains(string(lists[1].ReplyBody), "<DeleteMarker><Key>a</Key><VersionId>am</VersionId>") {
		t.Errorf("page 2 body %s", lists[1].ReplyBody)
	}
}

func TestPutChecksumAndCopy(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("src", true)
	f.CreateBucket("dst", false)
	c := f.Client("me")
	data := []byte("hello, checksums")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("c++/a b"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ContentType: aws.String("text/plain"), Tagging: aws.String("t=1")})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Only(t, "PutObject")
	if !bytes.Equal(r.Content, data) || r.Trailer.Get("x-amz-checksum-sha256") != s3fake.Checksum("SHA256", data) {
		t.Errorf("PutObject content %q trailer %v (body %q)", r.Content, r.Trailer, r.Body)
	}
	if aws.ToString(put.ETag) != s3fake.ETagOf(data) || aws.ToString(put.VersionId) == "" {
		t.Errorf("PutObject answer ETag %s version %s", aws.ToString(put.ETag), aws.ToString(put.VersionId))
	}
	// A literal '+' in the copy source reads as a space.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"),
		CopySource: aws.String("src/c++/a%20b?versionId=" + aws.ToString(put.VersionId))})
	if status(err) != 404 {
		t.Errorf("copy from an unescaped '+': %v, want 404", err)
	}
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"),
		CopySource: aws.String("src/c%2B%2B/a%20b?versionId=" + aws.ToString(put.VersionId)), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if cp.VersionId != nil || aws.ToString(cp.CopySourceVersionId) != aws.ToString(put.VersionId) {
		t.Errorf("copy into an unversioned bucket: version %v, source version %v", cp.VersionId, cp.CopySourceVersionId)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32) != s3fake.Checksum("CRC32", data) || aws.ToString(head.ContentType) != "text/plain" ||
		aws.ToInt32(head.TagCount) != 0 {
		t.Errorf("HEAD of the copy: %+v %v", head, err)
	}
	if vs := f.Versions("dst", "k"); len(vs) != 1 || vs[0].VersionID != "null" || vs[0].Tags["t"] != "1" {
		t.Errorf("copy stored %+v", vs)
	}
}

func TestMultipartAndParts(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true)
	const mib = 1 << 20
	f.Put("b", "src", s3fake.Object{VersionID: "s1", Size: 6 * mib})
	c := f.Client("me")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("dst")})
	if err != nil || aws.ToString(up.UploadId) != "upload-1" {
		t.Fatalf("create: %v %v", up, err)
	}
	var parts []types.CompletedPart
	var sums []byte
	for i, rng := range []string{"bytes=0-5242879", "bytes=5242880-6291455"} {
		out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("b"), Key: aws.String("dst"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("b/src?versionId=s1"), CopySourceRange: aws.String(rng)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
		raw, _ := hex.DecodeString(strings.Trim(aws.ToString(out.CopyPartResult.ETag), `"`))
		sums = append(sums, raw...)
	}
	if us := f.Uploads("b"); len(us) != 1 || len(us[0].Parts) != 2 {
		t.Errorf("uploads %+v", us)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("dst"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(sums)
	if want := fmt.Sprintf(`"%x-2"`, sum); aws.ToString(done.ETag) != want {
		t.Errorf("ETag %s, want %s", aws.ToString(done.ETag), want)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("dst"), PartNumber: aws.Int32(2)})
	if err != nil || aws.ToInt64(head.ContentLength) != mib || aws.ToInt32(head.PartsCount) != 2 {
		t.Errorf("HEAD part 2: %+v %v", head, err)
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("dst"), Range: aws.String("bytes=5242878-5242881")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	if !bytes.Equal(body, s3fake.Fill(6 * mib)[5242878:5242882]) {
		t.Errorf("range read %x", body)
	}
	if us := f.Uploads("b"); len(us) != 0 {
		t.Errorf("uploads left: %+v", us)
	}
}

func TestDeleteAndBucketConfig(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true, s3fake.Encryption("<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"+
		"<KMSMasterKeyID>arn:k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>"))
	c := f.Client("me")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if err != nil || put.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(put.SSEKMSKeyId) != "arn:k" ||
		aws.ToString(put.ETag) == s3fake.ETagOf([]byte("x")) {
		t.Fatalf("put under a KMS default: %+v %v", put, err)
	}
	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}); status(err) != 404 {
		t.Errorf("HEAD behind a delete marker: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: del.VersionId}); status(err) != 405 {
		t.Errorf("GET of a delete marker: %v", err)
	}
	if _, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("b")}); err == nil ||
		!strings.Contains(err.Error(), "ReplicationConfigurationNotFoundError") {
		t.Errorf("GetBucketReplication without one: %v", err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")}); status(err) != 404 {
		t.Errorf("HeadBucket of no bucket: %v", err)
	}
	if vs := f.Versions("b", "k"); len(vs) != 2 || !vs[0].DeleteMarker || !vs[0].IsLatest {
		t.Errorf("versions %+v", vs)
	}
}

func TestUploadPartChecksums(t *testing.T) {
	f := s3fake.New(t)
	f.CreateBucket("b", true)
	c := f.Client("me")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	data := s3fake.Fill(5*mib + 10)
	var parts []types.CompletedPart
	var sums []byte
	for i, chunk := range [][]byte{data[:5*mib], data[5*mib:]} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String("k"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(chunk), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.ChecksumCRC32); got != s3fake.Checksum("CRC32", chunk) {
			t.Errorf("part %d checksum %s", i+1, got)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		raw, _ := base64.StdEncoding.DecodeString(aws.ToString(out.ChecksumCRC32))
		sums = append(sums, raw...)
	}
	if r := f.Ops("UploadPart")[0]; !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") || len(r.Content) != 5*mib {
		t.Errorf("UploadPart sent %q with %d bytes of content", r.Header.Get("Content-Encoding"), len(r.Content))
	}
	wrong := append([]types.CompletedPart(nil), parts...)
	wrong[1].ChecksumCRC32 = parts[0].ChecksumCRC32
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: wrong}})
	if !strings.Contains(fmt.Sprint(err), "InvalidPart") {
		t.Errorf("Complete with a wrong part checksum: %v, want InvalidPart", err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	if want := s3fake.Checksum("CRC32", sums) + "-2"; aws.ToString(done.ChecksumCRC32) != want || done.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("object checksum %s (%s), want %s COMPOSITE", aws.ToString(done.ChecksumCRC32), done.ChecksumType, want)
	}
	if vs := f.Versions("b", "k"); len(vs) != 1 || !bytes.Equal(vs[0].Data, data) {
		t.Errorf("object not stored whole")
	}
}
