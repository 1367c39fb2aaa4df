package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// Encryption classes of seeded versions (the report's names).
const (
	encNone = "NOT-SSE"
	encS3   = "SSE-S3"
	encKMS  = "SSE-KMS"
	encC    = "SSE-C"
)

// customerKey is an SSE-C key the test knows; inFile says whether the key
// file lists it.
type customerKey struct {
	id         string
	raw        []byte
	prefixes   []string
	replicaKey string
	inFile     bool
}

func newCustomerKey(id string, inFile bool, prefixes ...string) *customerKey {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	return &customerKey{id: id, raw: raw, prefixes: prefixes, inFile: inFile}
}

func (k *customerKey) b64() string { return base64.StdEncoding.EncodeToString(k.raw) }
func (k *customerKey) md5() string {
	sum := md5.Sum(k.raw)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// sseC are the SSE-C request headers (algorithm, key, key MD5) of k; none
// for a nil k.
func (k *customerKey) sseC() (alg, key, keyMD5 *string) {
	if k == nil {
		return nil, nil, nil
	}
	return aws.String("AES256"), aws.String(k.b64()), aws.String(k.md5())
}

// writeKeyFile writes the key file with every key that is in it.
func writeKeyFile(t *testing.T, keys []*customerKey) string {
	t.Helper()
	type entry struct {
		ID         string   `json:"id"`
		Key        string   `json:"key"`
		Prefixes   []string `json:"prefixes,omitempty"`
		ReplicaKey string   `json:"replica_key,omitempty"`
	}
	var f struct {
		Keys []entry `json:"keys"`
	}
	for _, k := range keys {
		if k.inFile {
			f.Keys = append(f.Keys, entry{ID: k.id, Key: k.b64(), Prefixes: k.prefixes, ReplicaKey: k.replicaKey})
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// srcVersion is one version (or delete marker) the test wrote.
type srcVersion struct {
	key          string
	versionID    string
	deleteMarker bool
	data         []byte
	enc          string
	kmsKey       string
	ssec         *customerKey
	meta         map[string]string
	contentType  string
	cacheControl string
	disposition  string
	language     string
	tags         map[string]string
	storageClass string
	checksum     types.ChecksumAlgorithm // the source's, if any
}

// world is a seeded source bucket: every version of every key, oldest first.
type world struct {
	c        *s3.Client
	bucket   string
	versions map[string][]*srcVersion
	keys     []string // in creation order
}

func newWorld(c *s3.Client, bucket string) *world {
	return &world{c: c, bucket: bucket, versions: map[string][]*srcVersion{}}
}

// newSource is how most tests begin: the lab, a client, and an empty
// world on a new versioned source bucket named after prefix.
func newSource(t *testing.T, prefix string) (*labenv.Lab, *s3.Client, *world) {
	t.Helper()
	lab := labenv.Get(t)
	c := lab.Client()
	return lab, c, newWorld(c, lab.Bucket(t, c, prefix, true))
}

func (w *world) total() int {
	n := 0
	for _, vs := range w.versions {
		n += len(vs)
	}
	return n
}

// put writes a version as v describes it and records its version id.
func (w *world) put(t *testing.T, v *srcVersion) {
	t.Helper()
	if err := w.tryPut(v); err != nil {
		t.Fatalf("seed %q: %v", v.key, err)
	}
}

// tryPut is put for a version the server may refuse.
func (w *world) tryPut(v *srcVersion) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(w.bucket),
		Key:           aws.String(v.key),
		Body:          bytes.NewReader(v.data),
		ContentLength: aws.Int64(int64(len(v.data))),
		Metadata:      v.meta,
	}
	if v.contentType != "" {
		in.ContentType = aws.String(v.contentType)
	}
	if v.cacheControl != "" {
		in.CacheControl = aws.String(v.cacheControl)
	}
	if v.disposition != "" {
		in.ContentDisposition = aws.String(v.disposition)
	}
	if v.language != "" {
		in.ContentLanguage = aws.String(v.language)
	}
	in.ChecksumAlgorithm = v.checksum
	if v.storageClass != "" {
		in.StorageClass = types.StorageClass(v.storageClass)
	}
	if len(v.tags) > 0 {
		q := url.Values{}
		for k, val := range v.tags {
			q.Set(k, val)
		}
		in.Tagging = aws.String(q.Encode())
	}
	switch v.enc {
	case encS3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case encKMS:
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(v.kmsKey)
	case encC:
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = v.ssec.sseC()
	}
	var out *s3.PutObjectOutput
	var err error
	if len(v.data) > 8<<20 {
		out, err = w.putMultipart(in)
	} else {
		out, err = w.c.PutObject(context.Background(), in)
	}
	if err != nil {
		return err
	}
	v.versionID = aws.ToString(out.VersionId)
	if v.versionID == "" {
		v.versionID = "null"
	}
	w.add(v)
	return nil
}

// putMultipart uploads a large version in 5 MiB parts, so that the source
// itself is a multipart object.
func (w *world) putMultipart(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
	ctx := context.Background()
	body, _ := in.Body.(*bytes.Reader)
	data := make([]byte, body.Len())
	_, _ = body.Read(data)
	create := &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: in.Metadata, ContentType: in.ContentType,
		CacheControl: in.CacheControl, ContentDisposition: in.ContentDisposition, ContentLanguage: in.ContentLanguage,
		StorageClass: in.StorageClass, Tagging: in.Tagging, ServerSideEncryption: in.ServerSideEncryption,
		SSEKMSKeyId: in.SSEKMSKeyId, SSECustomerAlgorithm: in.SSECustomerAlgorithm,
		SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}
	up, err := w.c.CreateMultipartUpload(ctx, create)
	if err != nil {
		return nil, err
	}
	var parts []types.CompletedPart
	const partSize = 5 << 20
	for i, off := int32(1), 0; off < len(data); i, off = i+1, off+partSize {
		end := min(off+partSize, len(data))
		p, err := w.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: in.Bucket, Key: in.Key, UploadId: up.UploadId, PartNumber: aws.Int32(i),
			Body: bytes.NewReader(data[off:end]), ContentLength: aws.Int64(int64(end - off)),
			SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		})
		if err != nil {
			return nil, err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: p.ETag})
	}
	done, err := w.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: up.UploadId,
		MultipartUpload:      &types.CompletedMultipartUpload{Parts: parts},
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	})
	if err != nil {
		return nil, err
	}
	return &s3.PutObjectOutput{VersionId: done.VersionId, ETag: done.ETag}, nil
}

// del writes a delete marker on key.
func (w *world) del(t *testing.T, key string) {
	t.Helper()
	out, err := w.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("seed delete marker on %s: %v", key, err)
	}
	w.add(&srcVersion{key: key, versionID: aws.ToString(out.VersionId), deleteMarker: true})
}

// deleted seeds n keys prefix0, prefix1, ... with a delete marker each: in
// the middle of the history of the even ones (under a newer version of
// class enc), on top of the odd ones'.
func (w *world) deleted(t *testing.T, r *mrand.Rand, prefix string, n int, enc string) {
	t.Helper()
	for k := range n {
		key := fmt.Sprintf("%s%d", prefix, k)
		w.put(t, &srcVersion{key: key, data: content(r, 300), enc: encNone})
		w.del(t, key)
		if k%2 == 0 {
			w.put(t, &srcVersion{key: key, data: content(r, 301), enc: enc})
		}
	}
}

func (w *world) add(v *srcVersion) {
	if _, ok := w.versions[v.key]; !ok {
		w.keys = append(w.keys, v.key)
	}
	w.versions[v.key] = append(w.versions[v.key], v)
}

// content makes n bytes of a key's data.
func content(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// credentialsEnv writes a shared credentials file with profiles, each
// {name, access key id, secret}, and returns the environment that points a
// client process at it.
func credentialsEnv(t *testing.T, profiles ...[3]string) []string {
	t.Helper()
	var b strings.Builder
	for _, p := range profiles {
		fmt.Fprintf(&b, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", p[0], p[1], p[2])
	}
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"AWS_SHARED_CREDENTIALS_FILE=" + path}
}
