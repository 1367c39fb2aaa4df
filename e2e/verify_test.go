package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
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
	h := headVersion(t, c, bucket, key, versionID, k)
	if h == nil {
		return nil, nil
	}
	get := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)}
	get.SSECustomerAlgorithm, get.SSECustomerKey, get.SSECustomerKeyMD5 = k.sseC()
	obj, err := c.GetObject(context.Background(), get)
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

// headVersion is one version's HEAD, with an SSE-C key if given.
func headVersion(t *testing.T, c *s3.Client, bucket, key, versionID string, k *customerKey) *s3.HeadObjectOutput {
	t.Helper()
	head := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)}
	head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = k.sseC()
	h, err := c.HeadObject(context.Background(), head)
	if err != nil {
		t.Errorf("HEAD %s@%s: %v", key, versionID, err)
		return nil
	}
	return h
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

// expectation is what must become of one source version at one
// destination.
type expectation struct {
	status string // report TaskStatus; "succeeded" = a replica must exist

	// The replica, when succeeded and not a delete marker.
	enc   string       // replica encryption: encNone, encS3, encKMS or encC
	kms   string       // with encKMS: the key id as the server reports it (kmsARN)
	ssec  *customerKey // with encC: the key the replica is encrypted under
	class string       // storage class; "" = the source's

	// The report row (checked when the check has a report).
	rule     string   // RuleId; "" = not checked
	code     string   // ErrorCode; "" = not checked
	messages []string // substrings of ResultMessage
	// adoptable: the replica may have been made by a run that was killed,
	// and adopted by the next, whose ResultMessage says so instead.
	adoptable bool
}

func (e expectation) replicated() bool { return e.status == "succeeded" }

// replicaCheck is what checkReplicas checks of one destination bucket.
type replicaCheck struct {
	dest string // the destination bucket
	// The job's prefixes: source key srcPrefix+K is replicated as
	// destPrefix+K.
	srcPrefix, destPrefix string
	// expect says what must become of each source version.
	expect func(*srcVersion) expectation
	// report, if set, is the run's report: each source version's row for
	// dest must say what became of it, and name the replica made.
	report *destReport
}

// checkReplicas checks one destination bucket against the source world as
// rc says, and returns source version id → replica version id. Each
// key's replica versions must be exactly its replicated source versions,
// delete markers included, in the source's order, once each; each replica must have the source's bytes, metadata, content
// headers and tags, and the expected encryption and storage class. The
// bucket must hold no other key. With a report, every source version's
// row for the bucket is checked too.
func checkReplicas(t *testing.T, w *world, c *s3.Client, rc replicaCheck) map[string]string {
	t.Helper()
	listed := listVersions(t, c, rc.dest)
	for destKey := range listed {
		if key, ok := strings.CutPrefix(destKey, rc.destPrefix); !ok || w.versions[rc.srcPrefix+key] == nil {
			t.Errorf("%s: unexpected key %q (not the replica of a source key)", rc.dest, destKey)
		}
	}
	pairs := map[string]string{}
	for _, key := range w.keys {
		destKey := rc.destPrefix + strings.TrimPrefix(key, rc.srcPrefix)
		var want []*srcVersion
		for _, v := range w.versions[key] {
			if rc.expect(v).replicated() {
				want = append(want, v)
			}
		}
		got := listed[destKey]
		for i, sv := range want {
			if i == len(got) {
				break
			}
			checkReplica(t, w, c, rc.dest, destKey, i, got[i], sv, rc.expect(sv))
			pairs[sv.versionID] = got[i].versionID
		}
		if len(got) != len(want) {
			t.Errorf("%s/%s: %d replica versions, want %d: one per replicated source version", rc.dest, destKey, len(got), len(want))
		}
		if rc.report != nil {
			for _, sv := range w.versions[key] {
				checkRow(t, w, rc, destKey, sv, pairs[sv.versionID])
			}
		}
	}
	return pairs
}

// checkReplica checks dv, version i of replica key destKey in bucket dest,
// against source version sv and what it must be. It returns the replica's
// bytes, and whether it could read them (not those of a delete marker).
func checkReplica(t *testing.T, w *world, c *s3.Client, dest, destKey string, i int, dv destVersion, sv *srcVersion, e expectation) ([]byte, bool) {
	t.Helper()
	where := fmt.Sprintf("%s/%s replica %d (%s)", dest, destKey, i, dv.versionID)
	if dv.deleteMarker != sv.deleteMarker {
		t.Errorf("%s: delete marker %v, want %v (order differs from the source)", where, dv.deleteMarker, sv.deleteMarker)
		return nil, false
	}
	if sv.deleteMarker {
		return nil, false
	}
	if e.enc == "" {
		t.Fatalf("%s: the test expects a replica of %s@%s but says nothing of its encryption", where, sv.key, sv.versionID)
	}
	data, h := getVersion(t, c, dest, destKey, dv.versionID, e.ssec)
	if h == nil {
		return nil, false
	}
	if !bytes.Equal(data, sv.data) {
		t.Errorf("%s: %d bytes differ from the source's %d", where, len(data), len(sv.data))
	}
	checkEncryption(t, where, h, e)
	if !maps.Equal(h.Metadata, sv.meta) {
		t.Errorf("%s: metadata %v, want %v", where, h.Metadata, sv.meta)
	}
	if tags := tagsOf(t, c, dest, destKey, dv.versionID); !maps.Equal(tags, sv.tags) {
		t.Errorf("%s: tags %v, want %v", where, tags, sv.tags)
	}
	// Content headers and storage class: as the source has them (defaults
	// included) and as seeded; the storage class as a rule sets it.
	sh := headVersion(t, w.c, w.bucket, sv.key, sv.versionID, sv.ssec)
	if sh == nil {
		return data, true
	}
	srcClass, seededClass := storageClassOf(sh.StorageClass), firstNonEmpty(sv.storageClass, "STANDARD")
	if e.class != "" {
		srcClass, seededClass = e.class, e.class
	}
	for _, f := range []struct{ name, got, src, seeded string }{
		{"Content-Type", aws.ToString(h.ContentType), aws.ToString(sh.ContentType), sv.contentType},
		{"Cache-Control", aws.ToString(h.CacheControl), aws.ToString(sh.CacheControl), sv.cacheControl},
		{"Content-Disposition", aws.ToString(h.ContentDisposition), aws.ToString(sh.ContentDisposition), sv.disposition},
		{"Content-Language", aws.ToString(h.ContentLanguage), aws.ToString(sh.ContentLanguage), sv.language},
		{"storage class", storageClassOf(h.StorageClass), srcClass, seededClass},
	} {
		if f.got != f.src || (f.seeded != "" && f.got != f.seeded) {
			t.Errorf("%s: %s %q, want %q (seeded %q)", where, f.name, f.got, f.src, f.seeded)
		}
	}
	return data, true
}

// checkRow checks the report row of source version sv for bucket rc.dest:
// what became of the version, and for a replica its key and version id
// (replica) and its encryption.
func checkRow(t *testing.T, w *world, rc replicaCheck, destKey string, sv *srcVersion, replica string) {
	t.Helper()
	row := rc.report.row(t, sv.key, sv.versionID, rc.dest)
	if row == nil {
		return
	}
	e := rc.expect(sv)
	where := fmt.Sprintf("report %s: %q@%s to %s", rc.report.path, sv.key, sv.versionID, rc.dest)
	if row["Bucket"] != w.bucket || row["TaskStatus"] != e.status {
		t.Errorf("%s: bucket %s %s, want %s %s (%s %s)", where, row["Bucket"], row["TaskStatus"], w.bucket, e.status,
			row["ErrorCode"], row["ResultMessage"])
	}
	if e.rule != "" && row["RuleId"] != e.rule {
		t.Errorf("%s: RuleId %q, want %q (%s)", where, row["RuleId"], e.rule, row["ResultMessage"])
	}
	adopted := e.adoptable && strings.Contains(row["ResultMessage"], "by an interrupted run")
	for _, m := range e.messages {
		if !strings.Contains(row["ResultMessage"], m) && !adopted {
			t.Errorf("%s: ResultMessage %q, want it to contain %q", where, row["ResultMessage"], m)
		}
	}
	if e.code != "" && row["ErrorCode"] != e.code {
		t.Errorf("%s: ErrorCode %q, want %q (%s)", where, row["ErrorCode"], e.code, row["ResultMessage"])
	}
	if !e.replicated() {
		if row["DestinationVersionId"] != "" {
			t.Errorf("%s: %s but has a DestinationVersionId %q", where, row["TaskStatus"], row["DestinationVersionId"])
		}
		return
	}
	if row["DestinationBucket"] != rc.dest || row["DestinationKey"] != destKey || row["DestinationVersionId"] != replica ||
		row["HTTPStatusCode"] != "200" {
		t.Errorf("%s: destination %s/%s@%s HTTP %s, want %s/%s@%s 200", where, row["DestinationBucket"], row["DestinationKey"],
			row["DestinationVersionId"], row["HTTPStatusCode"], rc.dest, destKey, replica)
	}
	if sv.deleteMarker {
		return
	}
	if row["SourceEncryption"] != sv.enc || row["ReplicaEncryption"] != e.enc {
		t.Errorf("%s: encryption %s -> %s, want %s -> %s", where, row["SourceEncryption"], row["ReplicaEncryption"], sv.enc, e.enc)
	}
	if !slices.Contains([]string{"match", "differs-expected"}, row["ETagStatus"]) {
		t.Errorf("%s: ETagStatus %q, want match or differs-expected", where, row["ETagStatus"])
	}
	if sv.ssec != nil && sv.ssec.inFile && row["KeyId"] != sv.ssec.id {
		t.Errorf("%s: KeyId %q, want %q", where, row["KeyId"], sv.ssec.id)
	}
}

func storageClassOf(c types.StorageClass) string {
	if c == "" {
		return "STANDARD"
	}
	return string(c)
}

func checkEncryption(t *testing.T, where string, h *s3.HeadObjectOutput, e expectation) {
	t.Helper()
	sse, kms, cust := string(h.ServerSideEncryption), aws.ToString(h.SSEKMSKeyId), aws.ToString(h.SSECustomerKeyMD5)
	switch e.enc {
	case encNone:
		if sse != "" || cust != "" {
			t.Errorf("%s: encrypted (%q, customer key %v), want no encryption", where, sse, cust != "")
		}
	case encS3:
		if sse != "AES256" {
			t.Errorf("%s: SSE %q, want AES256", where, sse)
		}
	case encKMS:
		if sse != "aws:kms" || kms != e.kms {
			t.Errorf("%s: SSE %q key %q, want aws:kms key %q", where, sse, kms, e.kms)
		}
	case encC:
		if cust != e.ssec.md5() {
			t.Errorf("%s: customer key MD5 %q, want key %s's", where, cust, e.ssec.id)
		}
	default:
		t.Fatalf("%s: unknown replica encryption %q", where, e.enc)
	}
}

// readReport reads a CSV report: its header, and each row by column name
// with the keys URL-decoded.
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
		for _, col := range []string{"Key", "DestinationKey"} {
			key, err := url.PathUnescape(m[col])
			if err != nil {
				t.Errorf("report %s %q is not URL-encoded: %v", col, m[col], err)
			}
			m[col] = key
		}
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
