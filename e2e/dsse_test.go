package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// fakeVersion is one version the fake source serves.
type fakeVersion struct {
	key, versionID string
	data           []byte
	sse, kmsKeyID  string // x-amz-server-side-encryption and its key id
	modified       time.Time
}

func (v fakeVersion) etag() string {
	sum := md5.Sum(v.data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// fakeSource is a small S3 over TLS that serves one versioned bucket, for
// what the lab cannot hold (DSSE-KMS, a replication configuration without
// a MinIO remote target): HeadBucket, GetBucketVersioning,
// GetBucketReplication, ListObjectVersions, HeadObject, GetObject and
// GetObjectTagging. Anything else is answered 501 and recorded.
type fakeSource struct {
	srv         *httptest.Server
	bucket      string
	versions    []fakeVersion // oldest first within a key
	replication string        // GetBucketReplication's XML; "" = none

	mu         sync.Mutex
	unexpected []string
	writes     []string
}

func newFakeSource(t *testing.T, bucket string, versions []fakeVersion, replication string) *fakeSource {
	t.Helper()
	f := &fakeSource{bucket: bucket, versions: versions, replication: replication}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// caBundle writes a PEM file trusting both the lab's CA and the fake's
// certificate.
func (f *fakeSource) caBundle(t *testing.T, lab *labenv.Lab) string {
	t.Helper()
	labCA, err := os.ReadFile(lab.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	fake := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	return writeTempText(t, "ca-bundle.pem", string(labCA)+"\n"+string(fake))
}

func (f *fakeSource) record(list *[]string, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*list = append(*list, r.Method+" "+r.URL.RequestURI())
}

func (f *fakeSource) find(key, versionID string) *fakeVersion {
	for i := range f.versions {
		if f.versions[i].key == key && f.versions[i].versionID == versionID {
			return &f.versions[i]
		}
	}
	return nil
}

func (f *fakeSource) serve(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	q.Del("x-id") // the SDK names some operations in the query
	has := func(k string) bool { _, ok := q[k]; return ok }
	xmlReply := func(status int, body string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+body)
	}
	s3Error := func(status int, code, msg string) {
		xmlReply(status, fmt.Sprintf("<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>fake</RequestId></Error>",
			code, msg, r.URL.Path))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		f.record(&f.writes, r)
		s3Error(http.StatusNotImplemented, "NotImplemented", "the fake source is read-only")
		return
	}
	if bucket != f.bucket {
		f.record(&f.unexpected, r)
		s3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	if key == "" {
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusOK)
		case has("versioning"):
			xmlReply(http.StatusOK, `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`)
		case has("replication"):
			if f.replication == "" {
				s3Error(http.StatusNotFound, "ReplicationConfigurationNotFoundError", "The replication configuration was not found")
				return
			}
			xmlReply(http.StatusOK, f.replication)
		case has("versions"):
			xmlReply(http.StatusOK, f.listing(q.Get("prefix")))
		default:
			f.record(&f.unexpected, r)
			s3Error(http.StatusNotImplemented, "NotImplemented", "not served by the fake source")
		}
		return
	}
	v := f.find(key, q.Get("versionId"))
	if v == nil {
		f.record(&f.unexpected, r)
		s3Error(http.StatusNotFound, "NoSuchVersion", "The specified version does not exist.")
		return
	}
	if has("tagging") {
		w.Header().Set("x-amz-version-id", v.versionID)
		xmlReply(http.StatusOK, `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>`)
		return
	}
	if len(q) > 1 || r.Header.Get("Range") != "" {
		// Only whole versions are served (no parts, no ranges, no ACLs).
		f.record(&f.unexpected, r)
		s3Error(http.StatusNotImplemented, "NotImplemented", "not served by the fake source")
		return
	}
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(v.data)))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", v.etag())
	h.Set("Last-Modified", v.modified.UTC().Format(http.TimeFormat))
	h.Set("x-amz-version-id", v.versionID)
	h.Set("Accept-Ranges", "bytes")
	if v.sse != "" {
		h.Set("x-amz-server-side-encryption", v.sse)
	}
	if v.kmsKeyID != "" {
		h.Set("x-amz-server-side-encryption-aws-kms-key-id", v.kmsKeyID)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(v.data)
	}
}

// listing is ListObjectVersions' answer: keys ascending, newest first.
func (f *fakeSource) listing(prefix string) string {
	var vs []fakeVersion
	for _, v := range f.versions {
		if strings.HasPrefix(v.key, prefix) {
			vs = append(vs, v)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].key != vs[j].key {
			return vs[i].key < vs[j].key
		}
		return vs[i].modified.After(vs[j].modified)
	})
	var b strings.Builder
	fmt.Fprintf(&b, `<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name><Prefix>%s</Prefix>`+
		`<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`, f.bucket, prefix)
	for i, v := range vs {
		latest := i == 0 || vs[i-1].key != v.key
		fmt.Fprintf(&b, `<Version><Key>%s</Key><VersionId>%s</VersionId><IsLatest>%v</IsLatest><LastModified>%s</LastModified>`+
			`<ETag>%s</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Version>`,
			v.key, v.versionID, latest, v.modified.UTC().Format("2006-01-02T15:04:05.000Z"), strings.ReplaceAll(v.etag(), `"`, "&quot;"), len(v.data))
	}
	b.WriteString("</ListVersionsResult>")
	return b.String()
}

// check fails the test on requests the fake does not serve, and on any
// write to the source.
func (f *fakeSource) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.writes) > 0 {
		t.Errorf("the tool wrote to the source: %v", f.writes)
	}
	if len(f.unexpected) > 0 {
		t.Errorf("requests the fake source does not serve: %v", f.unexpected)
	}
}

// dsseWorld is the fake source's content: two plain keys around a DSSE-KMS
// version, which has a newer plain version.
func dsseWorld(dsseKeyARN string) []fakeVersion {
	r := mrand.New(mrand.NewPCG(51, 52))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	return []fakeVersion{
		{key: "plain/a.txt", versionID: "va1", data: content(r, 1500), modified: t0},
		{key: "plain/a.txt", versionID: "va2", data: content(r, 1600), sse: "AES256", modified: t0.Add(time.Minute)},
		{key: "secret/dsse.bin", versionID: "vd1", data: content(r, 2000), sse: "aws:kms:dsse", kmsKeyID: dsseKeyARN, modified: t0.Add(2 * time.Minute)},
		{key: "secret/dsse.bin", versionID: "vd2", data: content(r, 2100), modified: t0.Add(3 * time.Minute)},
		{key: "zz/b.bin", versionID: "vb1", data: content(r, 700), modified: t0.Add(4 * time.Minute)},
	}
}

// TestDSSESourceAgainstTheLab: a DSSE-KMS source version (served by a
// fake S3, the lab has none) with KMS replication enabled is replicated as
// DSSE-KMS, which the lab server refuses (400). The run must finish (exit
// 3) with that version failed with an error a user can act on, its newer
// version waiting for it (PrecedingVersionFailed), and the plain versions
// of the same source streamed to the lab intact.
//
// The KMS probe is left on: it writes SSE-KMS (not DSSE) with the replica
// key, which the lab accepts, so it does not get in the way; it also does
// not find out that the destination refuses DSSE.
func TestDSSESourceAgainstTheLab(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	dst := lab.Bucket(t, c, "dsse-dst", true)
	const srcBucket = "fake-dsse-src"
	dsseKey := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	versions := dsseWorld(dsseKey)
	fake := newFakeSource(t, srcBucket, versions, "")
	dir := t.TempDir()
	db, reportPath := filepath.Join(dir, "job.db"), filepath.Join(dir, "report.csv")
	replicaKey := lab.KMSKeys[1]

	res := tool(t, lab, nil, "run", "--source", "s3://"+srcBucket, "--dest", "s3://"+dst, "--db", db, "--report", reportPath,
		"--source-endpoint-url", fake.srv.URL, "--dest-endpoint-url", lab.Endpoint, "--ca-bundle", fake.caBundle(t, lab),
		"--replicate-kms", "--replica-kms-key-id", replicaKey)
	if res.code != 3 {
		t.Fatalf("exit %d, want 3 (the DSSE version fails, the run finishes)\n%s", res.code, res)
	}
	if strings.Contains(res.stderr, "panic") || strings.Contains(res.stderr, "goroutine ") {
		t.Fatalf("the run crashed:\n%s", res)
	}
	fake.check(t)
	rep := readDestReport(t, reportPath)
	if len(rep.rows) != len(versions) {
		t.Errorf("report has %d rows, want %d", len(rep.rows), len(versions))
	}
	listed := listVersions(t, c, dst)
	for _, v := range versions {
		row := rep.row(t, v.key, v.versionID, dst)
		if row == nil {
			continue
		}
		switch v.versionID {
		case "vd1":
			if row["TaskStatus"] != "failed" || row["SourceEncryption"] != "DSSE-KMS" {
				t.Errorf("DSSE version: %s, source encryption %q, want failed DSSE-KMS (%v)", row["TaskStatus"], row["SourceEncryption"], row)
			}
			if row["ReplicaKeyId"] != replicaKey && row["ReplicaKeyId"] != kmsARN(replicaKey) {
				t.Errorf("DSSE version: ReplicaKeyId %q, want the rule's key %s", row["ReplicaKeyId"], replicaKey)
			}
			if row["ErrorCode"] == "" || row["HTTPStatusCode"] != "400" {
				t.Errorf("DSSE version: ErrorCode %q HTTP %q, want the server's code and 400", row["ErrorCode"], row["HTTPStatusCode"])
			}
			// A user must learn from the row that the destination refused
			// the encryption, not only that some request failed: the
			// server's explanation is kept (the lab's says "The encryption
			// method is not supported"; it does not name DSSE, and neither
			// does the tool's part of the message).
			if msg := strings.ToLower(row["ResultMessage"]); !strings.Contains(msg, "dsse") && !strings.Contains(msg, "encryption") {
				t.Errorf("DSSE version: the error does not say that the encryption was refused: %s %q", row["ErrorCode"], row["ResultMessage"])
			}
			t.Logf("DSSE version: %s %s %q", row["ErrorCode"], row["HTTPStatusCode"], row["ResultMessage"])
		case "vd2":
			if row["TaskStatus"] != "failed" || row["ErrorCode"] != "PrecedingVersionFailed" {
				t.Errorf("the version after the DSSE one: %s %s, want failed PrecedingVersionFailed (%q)", row["TaskStatus"], row["ErrorCode"], row["ResultMessage"])
			}
		default:
			if row["TaskStatus"] != "succeeded" || row["ETagStatus"] != "match" {
				t.Errorf("%s@%s: %s ETag %s, want succeeded with the source's ETag (%q)", v.key, v.versionID, row["TaskStatus"], row["ETagStatus"], row["ResultMessage"])
			}
		}
	}
	// The destination holds the plain versions, in order, and nothing of
	// the DSSE key.
	if got := listed["secret/dsse.bin"]; len(got) != 0 {
		t.Errorf("the DSSE key has %d versions on the destination, want none", len(got))
	}
	for _, key := range []string{"plain/a.txt", "zz/b.bin"} {
		var src []fakeVersion
		for _, v := range versions {
			if v.key == key {
				src = append(src, v)
			}
		}
		got := listed[key]
		if len(got) != len(src) {
			t.Errorf("%s: %d replica versions, want %d", key, len(got), len(src))
			continue
		}
		for i, v := range src {
			data, h := getVersion(t, c, dst, key, got[i].versionID, nil)
			if h == nil {
				continue
			}
			if string(data) != string(v.data) {
				t.Errorf("%s replica %d: %d bytes differ from the source's %d", key, i, len(data), len(v.data))
			}
			wantSSE := ""
			if v.sse == "AES256" {
				wantSSE = "AES256"
			}
			if string(h.ServerSideEncryption) != wantSSE {
				t.Errorf("%s replica %d: SSE %q, want %q", key, i, h.ServerSideEncryption, wantSSE)
			}
		}
	}
	// verify --content reads both sides (the fake source too) and agrees.
	if v := tool(t, lab, nil, "verify", "--db", db, "--content"); v.code != 0 {
		t.Errorf("verify --content: exit %d, want 0\n%s", v.code, v)
	}
	fake.check(t)
}

// TestReplicationConfigFromSource: --replication-config-from-source reads
// the source bucket's configuration with GetBucketReplication. The lab
// server refuses PutBucketReplication without a MinIO remote target
// (XMinioAdminRemoteTargetNotFoundError, and it wants its own ARNs), so the
// configuration is served by the fake source, and the lab is the
// destination: the Disabled rule that would take everything does nothing,
// the plain/ rule sets the storage class, the secret/ rule does not opt in
// to KMS, so the DSSE version is skipped (not failed) and the version
// after it is copied.
func TestReplicationConfigFromSource(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	dst := lab.Bucket(t, c, "fromsrc-dst", true)
	const srcBucket = "fake-config-src"
	versions := dsseWorld("arn:aws:kms:us-east-1:111122223333:key/abcd")
	ns := `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	dstARN := bucketARN(dst)
	cfg := `<ReplicationConfiguration ` + ns + `><Role>arn:aws:iam::111122223333:role/replication</Role>` +
		`<Rule><ID>plain-rrs</ID><Priority>1</Priority><Status>Enabled</Status><Filter><Prefix>plain/</Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<Destination><Bucket>` + dstARN + `</Bucket><StorageClass>REDUCED_REDUNDANCY</StorageClass></Destination></Rule>` +
		`<Rule><ID>everything-off</ID><Priority>9</Priority><Status>Disabled</Status><Filter><Prefix></Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<Destination><Bucket>` + dstARN + `</Bucket></Destination></Rule>` +
		`<Rule><ID>secret-no-kms</ID><Priority>2</Priority><Status>Enabled</Status><Filter><Prefix>secret/</Prefix></Filter>` +
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
		`<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Disabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>` +
		`<Destination><Bucket>` + dstARN + `</Bucket></Destination></Rule>` +
		`</ReplicationConfiguration>`
	fake := newFakeSource(t, srcBucket, versions, cfg)
	dir := t.TempDir()
	db, reportPath := filepath.Join(dir, "job.db"), filepath.Join(dir, "report.csv")

	res := tool(t, lab, nil, "run", "--source", "s3://"+srcBucket, "--replication-config-from-source", "--db", db,
		"--report", reportPath, "--source-endpoint-url", fake.srv.URL, "--dest-endpoint-url", lab.Endpoint,
		"--ca-bundle", fake.caBundle(t, lab))
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res)
	}
	fake.check(t)
	if !strings.Contains(res.stderr, "everything-off") {
		t.Errorf("the run does not tell that rule everything-off is Disabled:\n%s", res.stderr)
	}
	rep := readDestReport(t, reportPath)
	listed := listVersions(t, c, dst)
	for _, v := range versions {
		row := rep.row(t, v.key, v.versionID, dst)
		if row == nil {
			continue
		}
		var wantStatus, wantRule, wantMsg string
		switch v.versionID {
		case "va1", "va2":
			wantStatus, wantRule = "succeeded", "plain-rrs"
		case "vd1":
			wantStatus, wantRule, wantMsg = "skipped", "secret-no-kms", "KMS replication not enabled"
		case "vd2":
			wantStatus, wantRule = "succeeded", "secret-no-kms"
		default:
			wantStatus, wantMsg = "skipped", "no enabled replication rule replicates this version to bucket "+dst
		}
		if row["TaskStatus"] != wantStatus || row["RuleId"] != wantRule || !strings.Contains(row["ResultMessage"], wantMsg) {
			t.Errorf("%s@%s: %s by %q (%q), want %s by %q (%q)", v.key, v.versionID, row["TaskStatus"], row["RuleId"], row["ResultMessage"],
				wantStatus, wantRule, wantMsg)
		}
	}
	for key, want := range map[string]struct {
		n     int
		class string
	}{"plain/a.txt": {2, "REDUCED_REDUNDANCY"}, "secret/dsse.bin": {1, "STANDARD"}, "zz/b.bin": {0, ""}} {
		got := listed[key]
		if len(got) != want.n {
			t.Errorf("%s: %d replica versions, want %d", key, len(got), want.n)
			continue
		}
		for _, dv := range got {
			if _, h := getVersion(t, c, dst, key, dv.versionID, nil); h != nil && storageClassOf(h.StorageClass) != want.class {
				t.Errorf("%s@%s: storage class %s, want %s", key, dv.versionID, storageClassOf(h.StorageClass), want.class)
			}
		}
	}
}
