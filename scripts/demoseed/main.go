// Command demoseed fills a source bucket in the local lab for the demo:
// several versions per key, delete markers, and every encryption type the
// lab has (none, SSE-S3, SSE-KMS, SSE-C found by prefix, SSE-C found by
// trial and re-keyed, and one SSE-C version whose key the key file lacks),
// plus one object large enough for a multipart copy. It writes the key file
// and prints shell assignments: SRC, DST, KEYS, ENDPOINT, KMS_REPLICA.
//
//	go run ./scripts/demoseed DIR
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || len(os.Args) == 3 && os.Args[2] != "rgw" {
		fmt.Fprintln(os.Stderr, "usage: demoseed DIR [rgw]")
		os.Exit(2)
	}
	if err := seed(context.Background(), os.Args[1], len(os.Args) == 3); err != nil {
		fmt.Fprintln(os.Stderr, "demoseed:", err)
		os.Exit(1)
	}
}

type key struct {
	id  string
	raw []byte
}

func newKey(id string) key {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	return key{id, raw}
}

func (k key) apply(in *s3.PutObjectInput) {
	sum := md5.Sum(k.raw)
	in.SSECustomerAlgorithm = aws.String("AES256")
	in.SSECustomerKey = aws.String(base64.StdEncoding.EncodeToString(k.raw))
	in.SSECustomerKeyMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// seed fills a source bucket on the lab's MinIO, or on its Ceph RGW when
// rgw is set.
func seed(ctx context.Context, dir string, rgw bool) error {
	lab, err := labenv.Load()
	if err != nil {
		return fmt.Errorf("%w (start the lab: scripts/lab start)", err)
	}
	c, endpoint, kmsKeys := lab.Client(), lab.Endpoint, lab.KMSKeys
	if rgw {
		c, endpoint, kmsKeys = lab.RGWClient(), lab.RGW, lab.RGWKMSKeys
	}
	src, err := labenv.NewBucket(ctx, c, "demo-src", true)
	if err != nil {
		return err
	}
	dst, err := labenv.NewBucket(ctx, c, "demo-dst", true)
	if err != nil {
		return err
	}
	invoices, legacy, lost := newKey("invoices-2024"), newKey("legacy"), newKey("lost")
	kms := kmsKeys[1]

	put := func(k string, body string, opt func(*s3.PutObjectInput)) error {
		in := &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(k), Body: bytes.NewReader([]byte(body)),
			ContentType: aws.String("text/plain")}
		if opt != nil {
			opt(in)
		}
		_, err := c.PutObject(ctx, in)
		return err
	}
	sse := func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 }
	withKMS := func(in *s3.PutObjectInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(kms)
	}
	steps := []struct {
		key, body string
		opt       func(*s3.PutObjectInput)
	}{
		{"docs/readme.txt", "first draft", nil},
		{"docs/readme.txt", "second draft", func(in *s3.PutObjectInput) { in.Metadata = map[string]string{"author": "ada"} }},
		{"docs/readme.txt", "final", nil},
		{"docs/notes with spaces.txt", "plain text", nil},
		{"secure/config.json", `{"v":1}`, sse},
		{"secure/config.json", `{"v":2}`, sse},
		{"kms/payroll.csv", "name,amount", withKMS},
		{"invoices/2024-001.pdf", "invoice one", invoices.apply},
		{"invoices/2024-001.pdf", "invoice one, corrected", invoices.apply},
		{"archive/old-contract.pdf", "signed long ago", legacy.apply},
		{"archive/lost-key.bin", "nobody has this key any more", lost.apply},
		{"tmp/scratch.txt", "soon deleted", func(in *s3.PutObjectInput) {
			in.Tagging = aws.String("lifecycle=temporary")
		}},
	}
	for _, s := range steps {
		if err := put(s.key, s.body, s.opt); err != nil {
			return fmt.Errorf("put %s: %w", s.key, err)
		}
	}
	for _, k := range []string{"tmp/scratch.txt", "docs/notes with spaces.txt"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(k)}); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	// 24 MiB: above the demo's 16 MiB threshold, so copied in parts.
	big := make([]byte, 24<<20)
	_, _ = rand.Read(big)
	up := manager.NewUploader(c, func(u *manager.Uploader) {
		// No trailing checksums where none is required: Ceph RGW (before
		// Reef) refuses them.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String("media/video.bin"),
		Body: bytes.NewReader(big)}); err != nil {
		return fmt.Errorf("put media/video.bin: %w", err)
	}

	// The key file: "legacy" is found by trial and its replicas are
	// re-keyed to invoices-2024; "lost" is not in it.
	kf := map[string]any{"keys": []map[string]any{
		{"id": invoices.id, "key": base64.StdEncoding.EncodeToString(invoices.raw), "prefixes": []string{"invoices/"}},
		{"id": legacy.id, "key": base64.StdEncoding.EncodeToString(legacy.raw), "replica_key": invoices.id},
	}}
	b, _ := json.MarshalIndent(kf, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		return err
	}
	fmt.Printf("SRC=%s\nDST=%s\nKEYS=%s\nENDPOINT=%s\nKMS_REPLICA=%s\n", src, dst, keys, endpoint, kmsKeys[2])
	return nil
}
