package executor

import (
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// Config.ReadBack: when the answer of the write that made a replica tells
// all a read-back would (as AWS S3's answers do), auto does not HEAD the
// replica; when it does not (as MinIO's often do), auto reads it back as
// always does; never reads nothing back.

const (
	// replicaKMSAlias is the KMS key the plan names; replicaKMSARN is how
	// AWS S3 answers it (the fake keeps and reads back the alias).
	replicaKMSAlias = "alias/replica"
	replicaKMSARN   = "arn:aws:kms:us-east-1:111122223333:key/replica"
	kmsKeyHeader    = "x-amz-server-side-encryption-aws-kms-key-id"
)

// rbVersion is one 100-byte source version "k"/"v1" and its task.
type rbVersion struct {
	name   string
	header map[string]string // the source version's
	task   planner.Task
	// dest, if not nil, makes the destination bucket anew.
	dest func(*s3fake.Server)
}

var rbData = s3fake.Fill(100)

// kmsVersion: SSE-KMS with a SHA-256, replicated to a KMS key with a
// Bucket Key. Only the checksum proves its content (KMS ETags are opaque).
func kmsVersion() rbVersion {
	sum := s3fake.Checksum("SHA256", rbData)
	return rbVersion{name: "SSE-KMS with checksum",
		header: map[string]string{"x-amz-server-side-encryption": "aws:kms", kmsKeyHeader: "arn:aws:kms:us-east-1:111122223333:key/source",
			"x-amz-checksum-sha256": sum, "x-amz-checksum-type": "FULL_OBJECT"},
		task: planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"0123456789abcdef0123456789abcdef"`},
			Inspection: planner.Inspection{Encryption: planner.SSEKMS, Checksum: planner.Checksum{Algorithm: "SHA256", Value: sum, Type: "FULL_OBJECT"}},
			Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEKMS, ReplicaKMSKeyID: replicaKMSAlias, ReplicaBucketKey: true}}}
}

// ssecVersion: SSE-C under key A with a CRC32, re-keyed to key B.
func ssecVersion() rbVersion {
	sum := s3fake.Checksum("CRC32", rbData)
	return rbVersion{name: "SSE-C with checksum", header: keyA.Header("x-amz-checksum-crc32", sum, "x-amz-checksum-type", "FULL_OBJECT"),
		task: planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: `"0123456789abcdef0123456789abcdef"`},
			Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID, Checksum: planner.Checksum{Algorithm: "CRC32", Value: sum, Type: "FULL_OBJECT"}},
			Decision:   planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}}}
}

// sses3Version: SSE-S3 without a checksum: its MD5 ETag proves the content.
func sses3Version() rbVersion {
	return rbVersion{name: "SSE-S3, ETag", header: map[string]string{"x-amz-server-side-encryption": "AES256"},
		task: planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: s3fake.ETagOf(rbData)},
			Inspection: planner.Inspection{Encryption: planner.SSES3}, Decision: planner.Decision{Action: planner.Copy, ReplicaEncryption: planner.SSES3}}}
}

// plainVersion: plaintext, no checksum; the destination default applies
// (defaultSSE, an algorithm; "" = none).
func plainVersion(defaultSSE string) rbVersion {
	v := rbVersion{name: "plaintext",
		task: planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100, ETag: s3fake.ETagOf(rbData)},
			Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}
	if defaultSSE != "" {
		v.name += " into a bucket encrypting by default"
		v.dest = func(f *s3fake.Server) {
			f.CreateBucket(dstBucket, true, s3fake.Encryption("<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>"+
				defaultSSE+"</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"))
		}
	}
	return v
}

// copyRB copies v under mode (stream: by GET and PutObject); answer, if
// not nil, changes the answer of the request that makes the replica.
func copyRB(t *testing.T, v rbVersion, mode ReadBack, stream bool, answer func(*s3fake.Reply)) (*harness, planner.Outcome) {
	t.Helper()
	h := newHarness(t)
	if v.dest != nil {
		v.dest(h.fake)
	}
	h.cfg.ReadBack, h.cfg.Stream = mode, stream
	h.fake.Put(srcBucket, "k", s3fake.Object{VersionID: "v1", Data: rbData, Header: v.header})
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if !creates(r) {
			return nil
		}
		rep := h.fake.Answer(r)
		if rep.Status == http.StatusOK && v.task.ReplicaKMSKeyID != "" {
			rep.Header.Set(kmsKeyHeader, replicaKMSARN) // as AWS S3 names the key
		}
		if answer != nil {
			answer(rep)
		}
		return rep
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{v.task}})
	return h, h.store.outcome(t, v.task.ID)
}

// creates reports the request that makes a replica version.
func creates(r s3fake.Request) bool {
	return r.Client == dstClient && (r.Op == "CopyObject" || r.Op == "PutObject" || r.Op == "CompleteMultipartUpload")
}

// maker is the one request that made the replica.
func maker(t *testing.T, h *harness) s3fake.Request {
	t.Helper()
	var found []s3fake.Request
	for _, r := range h.fake.Requests() {
		if creates(r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d requests made a replica, want 1: %v", len(found), s3fake.Describe(h.fake.Requests()))
	}
	return found[0]
}

// dstHeads are the HEADs of the replica key on the destination.
func dstHeads(h *harness) []s3fake.Request {
	var out []s3fake.Request
	for _, r := range h.fake.Ops("HeadObject") {
		if r.Client == dstClient {
			out = append(out, r)
		}
	}
	return out
}

// wantAWSShaped checks that the answer of w has all AWS S3 documents: the
// version id, the encryption (KMS key id, SSE-C algorithm and key MD5
// where they apply), the ETag, and the checksum asked for; and
// CopyObject's LastModified and ChecksumType in its CopyObjectResult.
func wantAWSShaped(t *testing.T, w s3fake.Request, v rbVersion) {
	t.Helper()
	want := []string{"x-amz-version-id"}
	switch v.task.ReplicaEncryption {
	case planner.SSEKMS:
		want = append(want, "x-amz-server-side-encryption", kmsKeyHeader, bucketKeyHeader)
	case planner.SSEC:
		want = append(want, ssecPrefix+"algorithm", ssecPrefix+"key-MD5")
	default:
		want = append(want, "x-amz-server-side-encryption")
	}
	for _, name := range want {
		if w.Reply.Get(name) == "" {
			t.Errorf("%s answer has no %s: %v", w.Op, name, w.Reply)
		}
	}
	var fields []string
	if w.Op == "CopyObject" {
		fields = append(fields, "<ETag>", "<LastModified>")
		if c := v.task.Checksum; c.Algorithm != "" {
			fields = append(fields, "<Checksum"+c.Algorithm+">", "<ChecksumType>")
		}
	}
	for _, f := range fields {
		if !strings.Contains(string(w.ReplyBody), f) {
			t.Errorf("CopyObjectResult has no %s: %s", f, w.ReplyBody)
		}
	}
}

// answeredETag is the ETag in the answer of w: in the CopyObjectResult of
// a CopyObject, else in the ETag header.
func answeredETag(t *testing.T, w s3fake.Request) string {
	t.Helper()
	if w.Op != "CopyObject" {
		return w.Reply.Get("ETag")
	}
	var res struct{ ETag string }
	if err := xml.Unmarshal(w.ReplyBody, &res); err != nil {
		t.Fatalf("CopyObjectResult: %v", err)
	}
	return res.ETag
}

// TestReadBackAutoTrustsAWSAnswer: an answer that tells all makes no
// read-back; the replica is recorded as the answer says.
func TestReadBackAutoTrustsAWSAnswer(t *testing.T) {
	for _, tc := range []struct {
		v         rbVersion
		stream    bool
		enc       planner.Encryption
		kmsKeyID  string
		checksum  string
		etagMatch bool
	}{
		{v: kmsVersion(), enc: planner.SSEKMS, kmsKeyID: replicaKMSARN, checksum: planner.ChecksumMatch},
		{v: kmsVersion(), stream: true, enc: planner.SSEKMS, kmsKeyID: replicaKMSARN, checksum: planner.ChecksumMatch},
		{v: ssecVersion(), enc: planner.SSEC, checksum: planner.ChecksumMatch},
		{v: sses3Version(), enc: planner.SSES3, checksum: planner.ChecksumNotCompared, etagMatch: true},
		// The destination's default encryption, as the answer names it.
		{v: plainVersion("AES256"), enc: planner.SSES3, checksum: planner.ChecksumNotCompared, etagMatch: true},
	} {
		name := tc.v.name
		if tc.stream {
			name += ", streamed"
		}
		t.Run(name, func(t *testing.T) {
			h, o := copyRB(t, tc.v, ReadBackAuto, tc.stream, nil)
			w := maker(t, h)
			wantAWSShaped(t, w, tc.v)
			if heads := dstHeads(h); len(heads) != 0 {
				t.Errorf("the replica was read back: %v", s3fake.Describe(heads))
			}
			if ls := h.fake.Ops("ListObjectVersions"); len(ls) != 0 {
				t.Errorf("the replica key was listed: %v", s3fake.Describe(ls))
			}
			r := o.Replica
			if o.Status != planner.StatusSucceeded || r.VersionID != w.Reply.Get("x-amz-version-id") ||
				r.Encryption != tc.enc || r.KMSKeyID != tc.kmsKeyID || r.ChecksumStatus != tc.checksum {
				t.Errorf("outcome = %+v, want succeeded, version %s, %s, KMS key %q, checksum %s",
					o, w.Reply.Get("x-amz-version-id"), tc.enc, tc.kmsKeyID, tc.checksum)
			}
			if replica, answered := h.replica(t, "k"), answeredETag(t, w); r.ETag != replica.ETag || r.ETag != answered {
				t.Errorf("recorded ETag %s, want the replica's %s as the answer gave it (%s)", r.ETag, replica.ETag, answered)
			}
			if (r.ETagStatus == planner.ETagMatch) != tc.etagMatch {
				t.Errorf("ETag status %s, want match: %v", r.ETagStatus, tc.etagMatch)
			}
			if !strings.Contains(o.Message, "not read back") {
				t.Errorf("message %q does not say the replica was not read back", o.Message)
			}
		})
	}
}

// without is an answer change: the headers named are left out.
func without(names ...string) func(*s3fake.Reply) {
	return func(rep *s3fake.Reply) {
		for _, n := range names {
			rep.Header.Del(n)
		}
	}
}

// noChecksumElements strips the checksum elements of a CopyObjectResult.
func noChecksumElements(rep *s3fake.Reply) {
	rep.Body = regexp.MustCompile(`<Checksum[A-Za-z0-9]*>[^<]*</Checksum[A-Za-z0-9]*>`).ReplaceAll(rep.Body, nil)
}

// TestReadBackAutoHeadsIncompleteAnswer: an answer that leaves out any of
// what a read-back tells (as MinIO's do), or does not prove the content
// (the size is only read back), gets the replica read back once.
func TestReadBackAutoHeadsIncompleteAnswer(t *testing.T) {
	kmsNoChecksum := kmsVersion()
	kmsNoChecksum.header["x-amz-checksum-sha256"], kmsNoChecksum.task.Checksum = "", planner.Checksum{}
	for _, tc := range []struct {
		name   string
		v      rbVersion
		answer func(*s3fake.Reply)
		enc    planner.Encryption
	}{
		{"no version id", kmsVersion(), without("x-amz-version-id"), planner.SSEKMS},
		{"no encryption", kmsVersion(), without("x-amz-server-side-encryption", kmsKeyHeader, bucketKeyHeader), planner.SSEKMS},
		{"no KMS key id", kmsVersion(), without(kmsKeyHeader), planner.SSEKMS},
		{"no checksum", kmsVersion(), noChecksumElements, planner.SSEKMS},
		{"not the encryption planned", kmsVersion(), func(rep *s3fake.Reply) {
			rep.Header.Set("x-amz-server-side-encryption", "AES256")
			rep.Header.Del(kmsKeyHeader)
		}, planner.SSEKMS},
		{"SSE-C without key MD5", ssecVersion(), without(ssecPrefix + "key-MD5"), planner.SSEC},
		{"SSE-C, another key's MD5", ssecVersion(), func(rep *s3fake.Reply) { rep.Header.Set(ssecPrefix+"key-MD5", keyA.MD5) }, planner.SSEC},
		{"implausible ETag", sses3Version(), func(rep *s3fake.Reply) {
			rep.Body = regexp.MustCompile(`<ETag>[^<]*</ETag>`).ReplaceAll(rep.Body, []byte("<ETag>&#34;x&#34;</ETag>"))
		}, planner.SSES3},
		// An answer cannot say "unencrypted": only the read-back tells.
		{"plaintext, no default encryption", plainVersion(""), nil, planner.NotSSE},
		// A KMS ETag proves nothing and no checksum was asked for.
		{"content not proven", kmsNoChecksum, nil, planner.SSEKMS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := copyRB(t, tc.v, ReadBackAuto, false, tc.answer)
			w := maker(t, h)
			heads := dstHeads(h)
			if len(heads) != 1 {
				t.Fatalf("%d read-backs, want 1: %v", len(heads), s3fake.Describe(h.fake.Requests()))
			}
			if head := heads[0]; head.Key != "k" || head.Query.Get("versionId") != w.Reply.Get("x-amz-version-id") {
				t.Errorf("read-back %v, want k at the answer's version %q", s3fake.Describe(heads), w.Reply.Get("x-amz-version-id"))
			}
			replica := h.replica(t, "k")
			if o.Status != planner.StatusSucceeded || o.Replica.VersionID != replica.VersionID || o.Replica.Encryption != tc.enc {
				t.Errorf("outcome = %+v, want succeeded, version %s, %s", o, replica.VersionID, tc.enc)
			}
			if strings.Contains(o.Message, "not read back") {
				t.Errorf("message %q says the replica was not read back", o.Message)
			}
		})
	}
}

// TestReadBackAlways: an answer that tells all is read back all the same;
// the read-back has the last word (the fake reads back the alias).
func TestReadBackAlways(t *testing.T) {
	h, o := copyRB(t, kmsVersion(), ReadBackAlways, false, nil)
	wantAWSShaped(t, maker(t, h), kmsVersion())
	if heads := dstHeads(h); len(heads) != 1 {
		t.Fatalf("%d read-backs, want 1: %v", len(heads), s3fake.Describe(h.fake.Requests()))
	}
	if o.Status != planner.StatusSucceeded || o.Replica.KMSKeyID != replicaKMSAlias || strings.Contains(o.Message, "not read back") {
		t.Errorf("outcome = %+v, want succeeded with the KMS key read back", o)
	}
}

// TestReadBackNever: nothing is read back, whatever the answer says;
// what it says is recorded, the rest as planned.
func TestReadBackNever(t *testing.T) {
	unversioned := sses3Version()
	unversioned.dest = func(f *s3fake.Server) { f.CreateBucket(dstBucket, false) }
	for _, tc := range []struct {
		name     string
		v        rbVersion
		answer   func(*s3fake.Reply)
		version  string // "": the answer's
		enc      planner.Encryption
		kmsKeyID string
		checksum string
	}{
		{name: "AWS answer", v: kmsVersion(), enc: planner.SSEKMS, kmsKeyID: replicaKMSARN, checksum: planner.ChecksumMatch},
		{name: "no encryption, no checksum", v: kmsVersion(), answer: func(rep *s3fake.Reply) {
			without("x-amz-server-side-encryption", kmsKeyHeader, bucketKeyHeader)(rep)
			noChecksumElements(rep)
		}, enc: planner.SSEKMS, kmsKeyID: replicaKMSAlias, checksum: planner.ChecksumNotCompared},
		// No version named: the null version, as after a read-back.
		{name: "unversioned destination", v: unversioned, version: "null", enc: planner.SSES3, checksum: planner.ChecksumNotCompared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := copyRB(t, tc.v, ReadBackNever, false, tc.answer)
			w := maker(t, h)
			if heads := dstHeads(h); len(heads) != 0 {
				t.Errorf("the replica was read back: %v", s3fake.Describe(heads))
			}
			version := tc.version
			if version == "" {
				version = w.Reply.Get("x-amz-version-id")
			}
			r := o.Replica
			if o.Status != planner.StatusSucceeded || r.VersionID != version || r.Encryption != tc.enc ||
				r.KMSKeyID != tc.kmsKeyID || r.ChecksumStatus != tc.checksum {
				t.Errorf("outcome = %+v, want succeeded, version %s, %s, KMS key %q, checksum %s", o, version, tc.enc, tc.kmsKeyID, tc.checksum)
			}
			if want := "copied by CopyObject; replica not read back (--read-back never)"; o.Message != want {
				t.Errorf("message %q, want %q", o.Message, want)
			}
		})
	}
}

// TestReadBackMultipart: CompleteMultipartUpload's answer, for a replica
// that replays its SSE-S3 source's parts: its ETag, the MD5 of the parts'
// MD5s, equals the source's and proves the content.
func TestReadBackMultipart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   ReadBack
		answer func(*s3fake.Reply)
		heads  int
	}{
		{"auto", ReadBackAuto, nil, 0},
		{"auto, no encryption answered", ReadBackAuto, without("x-amz-server-side-encryption"), 1},
		{"auto, no version id answered", ReadBackAuto, without("x-amz-version-id"), 1},
		{"always", ReadBackAlways, nil, 1},
		{"never", ReadBackNever, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.ReadBack = tc.mode
			const size = 11 * mib
			h.fake.Put(srcBucket, "k", s3fake.Object{VersionID: "v1", Size: size, PartSizes: []int64{5 * mib, 5 * mib, 1 * mib},
				Header: map[string]string{"x-amz-server-side-encryption": "AES256"}})
			etag := h.fake.Versions(srcBucket, "k")[0].ETag
			h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
				if r.Op != "CompleteMultipartUpload" || tc.answer == nil {
					return nil
				}
				rep := h.fake.Answer(r)
				tc.answer(rep)
				return rep
			})
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: size, ETag: etag},
				Inspection: planner.Inspection{Encryption: planner.SSES3}, Decision: planner.Decision{Action: planner.Multipart, ReplicaEncryption: planner.SSES3}}}})
			complete := h.fake.Only(t, "CompleteMultipartUpload")
			if tc.answer == nil {
				for _, name := range []string{"x-amz-version-id", "x-amz-server-side-encryption"} {
					if complete.Reply.Get(name) == "" {
						t.Errorf("CompleteMultipartUpload answer has no %s", name)
					}
				}
			}
			if heads := dstHeads(h); len(heads) != tc.heads {
				t.Errorf("%d read-backs, want %d: %v", len(heads), tc.heads, s3fake.Describe(h.fake.Requests()))
			}
			o := h.store.outcome(t, 1)
			replica := h.replica(t, "k")
			if o.Status != planner.StatusSucceeded || o.Replica.VersionID != replica.VersionID || o.Replica.ETag != etag ||
				o.Replica.ETagStatus != planner.ETagMatch || o.Replica.Encryption != planner.SSES3 {
				t.Errorf("outcome = %+v, want succeeded, version %s, ETag %s matching, SSE-S3", o, replica.VersionID, etag)
			}
			if notRead := strings.Contains(o.Message, "not read back"); notRead != (tc.heads == 0) {
				t.Errorf("message %q: says not read back %v, want %v", o.Message, notRead, tc.heads == 0)
			}
		})
	}
}

func TestParseReadBack(t *testing.T) {
	for in, want := range map[string]ReadBack{"": ReadBackAuto, "auto": ReadBackAuto, "Always": ReadBackAlways, "NEVER": ReadBackNever} {
		if got, err := ParseReadBack(in); err != nil || got != want {
			t.Errorf("ParseReadBack(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseReadBack("sometimes")
	if err == nil || !strings.Contains(err.Error(), "--read-back must be auto, always or never") || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("ParseReadBack(sometimes) error = %v, want one saying what is accepted", err)
	}
	h := newHarness(t)
	h.cfg.ReadBack = "sometimes"
	if _, err := New(h.cfg, nil, nil, nil, nil); err == nil {
		t.Errorf("New accepted ReadBack %q", h.cfg.ReadBack)
	}
}
