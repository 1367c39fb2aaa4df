package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// destVersion is one version of a replica key, as listed.
type destVersion struct {
	versionID    string
	deleteMarker bool
	lastModified time.Time // as the server stamped it
}

// listVersions lists every version of every key in a bucket, oldest first
// per key.
func listVersions(t *testing.T, c *s3.Client, bucket string) map[string][]destVersion {
	t.Helper()
	out := map[string][]destVersion{}
	err := inventory.List(context.Background(), c, bucket, "", func(v planner.Version) error {
		out[v.Key] = append(out[v.Key], destVersion{versionID: v.VersionID, deleteMarker: v.DeleteMarker, lastModified: v.LastModified})
		return nil
	})
	if err != nil {
		t.Fatalf("list versions of %s: %v", bucket, err)
	}
	for _, vs := range out {
		slices.Reverse(vs) // listed newest first
	}
	return out
}

// getVersion reads one version's bytes and HEAD, with an SSE-C key if given.
func getVersion(t *testing.T, c *s3.Client, bucket, key, versionID string, k *customerKey) ([]byte, *s3.HeadObjectOutput) {
	t.Helper()
	ctx := context.Background()
	head := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)}
	get := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)}
	if k != nil {
		head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64()), aws.String(k.md5())
		get.SSECustomerAlgorithm, get.SSECustomerKey, get.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64()), aws.String(k.md5())
	}
	h, err := c.HeadObject(ctx, head)
	if err != nil {
		t.Errorf("HEAD %s@%s: %v", key, versionID, err)
		return nil, nil
	}
	obj, err := c.GetObject(ctx, get)
	if err != nil {
		t.Errorf("GET %s@%s: %v", key, versionID, err)
		return nil, nil
	}
	defer obj.Body.Close()
	data, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Errorf("GET %s@%s: %v", key, versionID, err)
	}
	return data, h
}

func tagsOf(t *testing.T, c *s3.Client, bucket, key, versionID string) map[string]string {
	t.Helper()
	out, err := c.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{
		Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		t.Errorf("tags of %s@%s: %v", key, versionID, err)
		return nil
	}
	m := map[string]string{}
	for _, tag := range out.TagSet {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

// expectation is what the replica of one source version must be.
type expectation struct {
	replicated bool   // a replica must exist
	status     string // report TaskStatus
	errorCode  string // report ErrorCode, when failed or skipped
	replicaEnc string // expected x-amz-server-side-encryption class of the replica
	replicaKMS string // expected KMS key id (as the server reports it)
	replicaKey *customerKey
}

// checkReplicas verifies that each replicated source version has exactly
// one replica, in the source's order, identical in bytes, encryption,
// metadata and tags. It returns source version id → replica version id.
func checkReplicas(t *testing.T, w *world, dst *s3.Client, dstBucket, dstPrefix, srcPrefix string,
	expect func(*srcVersion) expectation) map[string]string {
	t.Helper()
	dests := listVersions(t, dst, dstBucket)
	pairs := map[string]string{}
	for _, key := range w.keys {
		var want []*srcVersion
		for _, v := range w.versions[key] {
			if expect(v).replicated {
				want = append(want, v)
			}
		}
		destKey := dstPrefix + strings.TrimPrefix(key, srcPrefix)
		got := dests[destKey]
		if len(got) != len(want) {
			t.Errorf("%q: %d replica versions, want %d (one per replicated source version)", destKey, len(got), len(want))
			continue
		}
		for i, sv := range want {
			dv := got[i]
			pairs[sv.versionID] = dv.versionID
			if dv.deleteMarker != sv.deleteMarker {
				t.Errorf("%q replica %d: delete marker %v, want %v (order differs from the source)", destKey, i, dv.deleteMarker, sv.deleteMarker)
				continue
			}
			if sv.deleteMarker {
				continue
			}
			e := expect(sv)
			data, h := getVersion(t, dst, dstBucket, destKey, dv.versionID, e.replicaKey)
			if h == nil {
				continue
			}
			if !bytes.Equal(data, sv.data) {
				t.Errorf("%q replica %d (%s): %d bytes differ from the source's %d", destKey, i, dv.versionID, len(data), len(sv.data))
			}
			checkEncryption(t, destKey, h, e)
			if !maps.Equal(h.Metadata, sv.meta) && !(len(h.Metadata) == 0 && len(sv.meta) == 0) {
				t.Errorf("%q replica %d: metadata %v, want %v", destKey, i, h.Metadata, sv.meta)
			}
			// Content headers: as the source has them (defaults included)
			// and as seeded.
			_, sh := getVersion(t, w.c, w.bucket, key, sv.versionID, sv.ssec)
			if sh == nil {
				continue
			}
			for _, f := range []struct{ name, got, src, seeded string }{
				{"Content-Type", aws.ToString(h.ContentType), aws.ToString(sh.ContentType), sv.contentType},
				{"Cache-Control", aws.ToString(h.CacheControl), aws.ToString(sh.CacheControl), sv.cacheControl},
				{"Content-Disposition", aws.ToString(h.ContentDisposition), aws.ToString(sh.ContentDisposition), sv.disposition},
				{"Content-Language", aws.ToString(h.ContentLanguage), aws.ToString(sh.ContentLanguage), sv.language},
				{"storage class", storageClassOf(h.StorageClass), storageClassOf(sh.StorageClass), sv.storageClass},
			} {
				if f.got != f.src || (f.seeded != "" && f.got != f.seeded) {
					t.Errorf("%q replica %d: %s %q, source has %q (seeded %q)", destKey, i, f.name, f.got, f.src, f.seeded)
				}
			}
			if tags := tagsOf(t, dst, dstBucket, destKey, dv.versionID); !maps.Equal(tags, sv.tags) && !(len(tags) == 0 && len(sv.tags) == 0) {
				t.Errorf("%q replica %d: tags %v, want %v", destKey, i, tags, sv.tags)
			}
		}
	}
	return pairs
}

func storageClassOf(c types.StorageClass) string {
	if c == "" {
		return "STANDARD"
	}
	return string(c)
}

func checkEncryption(t *testing.T, key string, h *s3.HeadObjectOutput, e expectation) {
	t.Helper()
	sse, kms, cust := string(h.ServerSideEncryption), aws.ToString(h.SSEKMSKeyId), aws.ToString(h.SSECustomerKeyMD5)
	switch e.replicaEnc {
	case encNone:
		if sse != "" || cust != "" {
			t.Errorf("%q: replica encrypted (%q, customer key %v), want none", key, sse, cust != "")
		}
	case encS3:
		if sse != "AES256" {
			t.Errorf("%q: replica SSE %q, want AES256", key, sse)
		}
	case encKMS:
		if sse != "aws:kms" || kms != e.replicaKMS {
			t.Errorf("%q: replica SSE %q key %q, want aws:kms key %q", key, sse, kms, e.replicaKMS)
		}
	case encC:
		if cust != e.replicaKey.md5() {
			t.Errorf("%q: replica customer key MD5 %q, want key %s", key, cust, e.replicaKey.id)
		}
	}
}

// reportRows reads a CSV report into rows keyed by source version id.
func reportRows(t *testing.T, path string) (header []string, rows map[string]map[string]string, n int) {
	t.Helper()
	header, list := readReport(t, path)
	rows = map[string]map[string]string{}
	for _, m := range list {
		rows[m["Key"]+"@"+m["VersionId"]] = m
	}
	return header, rows, len(list)
}

// readReport reads a CSV report: its header, and each row by column name
// with the key URL-decoded.
func readReport(t *testing.T, path string) (header []string, rows []map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("report %s is empty", path)
	}
	header = recs[0]
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, col := range header {
			m[col] = rec[i]
		}
		key, err := url.PathUnescape(m["Key"])
		if err != nil {
			t.Errorf("report key %q is not URL-encoded: %v", m["Key"], err)
		}
		m["Key"] = key
		rows = append(rows, m)
	}
	return header, rows
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
