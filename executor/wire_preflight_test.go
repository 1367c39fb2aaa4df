package executor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
)

// bucketState is one bucket of a preflight test.
type bucketState struct {
	missing    bool          // no such bucket
	head       *s3fake.Reply // HeadBucket's answer instead of the fake's (403, 301)
	versioning string        // versioning status: "" = never enabled
	// encryption is the bucket's default encryption rules; "" = none
	// (GetBucketEncryption answers 404).
	encryption string
	put        *s3fake.Reply // PutObject's answer instead of the fake's
	del        *s3fake.Reply // DeleteObject's answer instead of the fake's
}

// preflightFake is a fake holding the buckets of states (all but the
// missing ones), answering as they say.
func preflightFake(t *testing.T, states map[string]bucketState) *s3fake.Server {
	t.Helper()
	f := s3fake.New(t)
	for name, st := range states {
		if st.missing {
			continue
		}
		opts := []s3fake.BucketOption{s3fake.Versioning(st.versioning)}
		if st.encryption != "" {
			opts = append(opts, s3fake.Encryption(st.encryption))
		}
		f.CreateBucket(name, false, opts...)
	}
	f.SetHook(preflightHook(states))
	return f
}

// preflightHook gives the answers states set instead of the fake's.
func preflightHook(states map[string]bucketState) func(s3fake.Request) *s3fake.Reply {
	return func(r s3fake.Request) *s3fake.Reply {
		st := states[r.Bucket]
		switch r.Op {
		case "HeadBucket":
			return st.head
		case "PutObject":
			return st.put
		case "DeleteObject":
			return st.del
		}
		return nil
	}
}

// preflightOps lists the requests sent for one bucket, in order.
func preflightOps(f *s3fake.Server, bucket string) []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Bucket == bucket {
			out = append(out, r.Op)
		}
	}
	return out
}

const (
	blockSSEC = "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>" +
		"<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule>"
	blockNone = "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>" +
		"<BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes></Rule>"
	defaultOnly = "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>" +
		"<KMSMasterKeyID>arn:default</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule>"
)

func runPreflight(t *testing.T, f *s3fake.Server, p Preflight) []Finding {
	t.Helper()
	fs, err := RunPreflight(context.Background(), f.Client(srcClient), f.Client(dstClient), p)
	if err != nil {
		t.Fatalf("RunPreflight: %v", err)
	}
	return fs
}

// wantFindings checks findings against want: each want is (error?, the
// substrings its message must hold), in order.
type wantFinding struct {
	err  bool
	says []string
}

func checkFindings(t *testing.T, got []Finding, want ...wantFinding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Error != w.err {
			t.Errorf("finding %d %q: Error = %v, want %v", i, got[i].Message, got[i].Error, w.err)
		}
		for _, s := range w.says {
			if !strings.Contains(got[i].Message, s) {
				t.Errorf("finding %d %q does not say %q", i, got[i].Message, s)
			}
		}
	}
}

// probeOps are the requests of one probe.
const probeOps = ",PutObject,HeadObject,DeleteObject"

func TestPreflightAllWell(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{
		srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", encryption: blockNone},
	})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, SSEC: true}}})
	checkFindings(t, fs)
	if got, want := strings.Join(preflightOps(f, srcBucket), ","), "HeadBucket,GetBucketVersioning"; got != want {
		t.Errorf("source requests %s, want %s", got, want)
	}
	// No KMS keys: SSE-C alone is probed.
	if got, want := strings.Join(preflightOps(f, dstBucket), ","), "HeadBucket,GetBucketVersioning,GetBucketEncryption,PutObject,HeadObject,DeleteObject"; got != want {
		t.Errorf("destination requests %s, want %s", got, want)
	}
	for _, r := range f.Requests() {
		wantClient := dstClient
		if r.Bucket == srcBucket {
			wantClient = srcClient
		}
		if r.Client != wantClient {
			t.Errorf("%s on %s sent by %q, want %q", r.Op, r.Bucket, r.Client, wantClient)
		}
	}
}

func TestPreflightBucketMissingOrDenied(t *testing.T) {
	missing := bucketState{missing: true}
	head403 := &s3fake.Reply{Status: http.StatusForbidden}
	for _, tc := range []struct {
		name   string
		states map[string]bucketState
		want   []wantFinding
		// requests per bucket, in order
		srcOps, dstOps, otherOps string
	}{
		{
			name:   "source missing",
			states: map[string]bucketState{srcBucket: missing, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "does not exist"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption" + probeOps + probeOps,
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name:   "source denied",
			states: map[string]bucketState{srcBucket: {head: head403}, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "access denied"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption" + probeOps + probeOps,
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			// A missing destination gets no further request; the
			// next destination is still checked.
			name:   "destination missing",
			states: map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: missing, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`destination bucket "dst"`, "does not exist"}}},
			srcOps: "HeadBucket,GetBucketVersioning", dstOps: "HeadBucket", otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name:   "destination denied",
			states: map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {head: head403}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`destination bucket "dst"`, "access denied", "403"}}},
			srcOps: "HeadBucket,GetBucketVersioning", dstOps: "HeadBucket", otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name:   "source in another region",
			states: map[string]bucketState{srcBucket: {head: &s3fake.Reply{Status: http.StatusMovedPermanently, Header: s3fake.Hdr("x-amz-bucket-region", "eu-west-1")}}, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "another region", "--region"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption" + probeOps + probeOps,
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name: "all missing",
			states: map[string]bucketState{srcBucket: missing, dstBucket: missing,
				"other": {head: head403}},
			want: []wantFinding{
				{true, []string{`source bucket "src"`, "does not exist"}},
				{true, []string{`destination bucket "dst"`, "does not exist"}},
				{true, []string{`destination bucket "other"`, "access denied"}},
			},
			srcOps: "HeadBucket", dstOps: "HeadBucket", otherOps: "HeadBucket",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := preflightFake(t, tc.states)
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true, Targets: []PreflightTarget{
				{Bucket: dstBucket, SSEC: true, KMSKeys: []string{"arn:k"}},
				{Bucket: "other"},
			}})
			checkFindings(t, fs, tc.want...)
			for bucket, want := range map[string]string{srcBucket: tc.srcOps, dstBucket: tc.dstOps, "other": tc.otherOps} {
				if got := strings.Join(preflightOps(f, bucket), ","); got != want {
					t.Errorf("requests to %s: %s, want %s", bucket, got, want)
				}
			}
		})
	}
}

func TestPreflightVersioning(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst string
		want     []wantFinding
	}{
		{"both enabled", "Enabled", "Enabled", nil},
		{"source suspended", "Suspended", "Enabled", []wantFinding{
			{false, []string{`versioning of source bucket "src" is Suspended`, "no version history to copy"}}}},
		{"source never enabled", "", "Enabled", []wantFinding{
			{false, []string{`versioning of source bucket "src" is never enabled`, "no version history to copy"}}}},
		{"destination suspended", "Enabled", "Suspended", []wantFinding{
			{false, []string{`versioning of destination bucket "dst" is Suspended`, "each copy of a key replaces the last"}}}},
		{"destination never enabled", "Enabled", "", []wantFinding{
			{false, []string{`versioning of destination bucket "dst" is never enabled`, "cannot keep the source's history"}}}},
		{"neither", "", "Suspended", []wantFinding{
			{false, []string{`source bucket "src" is never enabled`}},
			{false, []string{`destination bucket "dst" is Suspended`}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: tc.src}, dstBucket: {versioning: tc.dst}})
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket}}})
			checkFindings(t, fs, tc.want...)
			// The wording tells the two roles apart.
			for _, fd := range fs {
				if strings.Contains(fd.Message, "source bucket") && strings.Contains(fd.Message, "replaces the last") ||
					strings.Contains(fd.Message, "destination bucket") && strings.Contains(fd.Message, "no version history") {
					t.Errorf("finding %q has the other role's consequence", fd.Message)
				}
			}
		})
	}
}

func TestPreflightVersioningUnreadable(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"}})
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Bucket == dstBucket && r.Op == "GetBucketVersioning" {
			return s3fake.Error(http.StatusForbidden, "AccessDenied")
		}
		return nil
	})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket}}})
	checkFindings(t, fs, wantFinding{false, []string{`cannot read the versioning of destination bucket "dst"`, "AccessDenied"}})
}

func TestPreflightBlockedSSEC(t *testing.T) {
	for _, tc := range []struct {
		name       string
		encryption string
		ssec       bool
		want       []wantFinding
		encRequest bool
	}{
		{"blocked, SSE-C replicas", blockSSEC, true, []wantFinding{{true, []string{`destination bucket "dst"`, "blocks SSE-C", "--encryption"}}}, true},
		{"blocked, no SSE-C replicas", blockSSEC, false, nil, false},
		{"not blocked", blockNone, true, nil, true},
		{"default encryption only", defaultOnly, true, nil, true},
		{"no default encryption", "", true, nil, true},
		{"blocked in a second rule", defaultOnly + blockSSEC, true, []wantFinding{{true, []string{"blocks SSE-C"}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := preflightFake(t, map[string]bucketState{
				srcBucket: {versioning: "Enabled"},
				dstBucket: {versioning: "Enabled", encryption: tc.encryption},
			})
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket, SSEC: tc.ssec}}})
			checkFindings(t, fs, tc.want...)
			var asked bool
			for _, r := range f.Requests() {
				if r.Op == "GetBucketEncryption" {
					asked = true
					if r.Bucket != dstBucket || r.Client != dstClient {
						t.Errorf("GetBucketEncryption on %s by %s, want dst by dst", r.Bucket, r.Client)
					}
				}
			}
			if asked != tc.encRequest {
				t.Errorf("GetBucketEncryption sent = %v, want %v", asked, tc.encRequest)
			}
		})
	}
}

func TestPreflightKMSProbe(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/replica"
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"}})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{key}}}})
	checkFindings(t, fs)

	put := f.Only(t, "PutObject")
	if put.Client != dstClient || put.Bucket != dstBucket || !strings.HasPrefix(put.Key, ProbePrefix) || len(put.Key) <= len(ProbePrefix) {
		t.Errorf("probe PutObject of %s/%s by %s, want dst, a key under %s", put.Bucket, put.Key, put.Client, ProbePrefix)
	}
	if got := put.Header.Get("x-amz-server-side-encryption"); got != "aws:kms" {
		t.Errorf("probe x-amz-server-side-encryption = %q, want aws:kms", got)
	}
	if got := put.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"); got != key {
		t.Errorf("probe KMS key id = %q, want %q", got, key)
	}
	if len(put.Body) != 0 || put.Header.Get("Content-Length") != "0" {
		t.Errorf("probe body %q (Content-Length %q), want empty", put.Body, put.Header.Get("Content-Length"))
	}
	noHeaders(t, put, ssecPrefix, "x-amz-server-side-encryption-bucket-key-enabled")

	del := f.Only(t, "DeleteObject")
	if del.Client != dstClient || del.Bucket != dstBucket || del.Key != put.Key {
		t.Errorf("probe delete of %s/%s by %s, want dst %s/%s", del.Bucket, del.Key, del.Client, dstBucket, put.Key)
	}
	if got, want := del.Query.Get("versionId"), put.Reply.Get("x-amz-version-id"); want == "" || got != want {
		t.Errorf("probe delete versionId = %q, want the probe's version %q", got, want)
	}
	ops := preflightOps(f, dstBucket)
	if got, want := strings.Join(ops, ","), "HeadBucket,GetBucketVersioning"+probeOps; got != want {
		t.Errorf("destination requests %s, want %s", got, want)
	}
	// The probe wrote SSE-KMS with the key, and left nothing behind.
	if got := put.Reply.Get("x-amz-server-side-encryption-aws-kms-key-id"); put.Status != http.StatusOK || got != key {
		t.Errorf("probe answered %d with KMS key %q, want 200 and %q", put.Status, got, key)
	}
	if vs := f.Versions(dstBucket, put.Key); len(vs) != 0 {
		t.Errorf("the probe left %+v", vs)
	}
}

func TestPreflightKMSProbeEachKey(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"},
		"other": {versioning: "Enabled"}})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true, Targets: []PreflightTarget{
		{Bucket: dstBucket, KMSKeys: []string{"k1", "k2"}}, {Bucket: "other", KMSKeys: []string{"k3"}}}})
	checkFindings(t, fs)
	puts := f.Ops("PutObject")
	var got []string
	keys := map[string]bool{}
	for _, p := range puts {
		got = append(got, p.Bucket+":"+p.Header.Get("x-amz-server-side-encryption-aws-kms-key-id"))
		keys[p.Key] = true
	}
	if strings.Join(got, ",") != "dst:k1,dst:k2,other:k3" {
		t.Errorf("probes %v, want dst:k1, dst:k2, other:k3", got)
	}
	if len(keys) != 3 {
		t.Errorf("probe object keys %v, want a fresh one per probe", keys)
	}
	if n := len(f.Ops("DeleteObject")); n != 3 {
		t.Errorf("%d probe deletes, want 3", n)
	}
	for key := range keys {
		if vs := append(f.Versions(dstBucket, key), f.Versions("other", key)...); len(vs) != 0 {
			t.Errorf("probe %s left %+v", key, vs)
		}
	}
}

func TestPreflightKMSProbeRefused(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/gone"
	for _, tc := range []struct {
		name string
		put  *s3fake.Reply
		code string
	}{
		{"key not found", s3fake.Error(http.StatusBadRequest, "KMS.NotFoundException"), "KMS.NotFoundException"},
		{"access denied", s3fake.Error(http.StatusForbidden, "AccessDenied"), "AccessDenied"},
		{"key disabled", s3fake.Error(http.StatusBadRequest, "KMS.DisabledException"), "KMS.DisabledException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"},
				dstBucket: {versioning: "Enabled", put: tc.put}})
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
				Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{key}}}})
			checkFindings(t, fs, wantFinding{true, []string{`replica KMS key "` + key + `"`, `destination bucket "dst"`,
				tc.code, s3fake.ErrorMessage(tc.code), "--no-probe"}})
			f.Only(t, "PutObject")
			if rs := f.Ops("DeleteObject"); len(rs) != 0 {
				t.Errorf("nothing was written, yet deleted: %v", s3fake.Describe(rs))
			}
		})
	}
}

func TestPreflightKMSProbeUnversioned(t *testing.T) {
	// An unversioned destination's PutObject has no version id: the
	// probe is deleted by key.
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {}})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k"}}}})
	checkFindings(t, fs, wantFinding{false, []string{`destination bucket "dst" is never enabled`}})
	del := f.Only(t, "DeleteObject")
	if _, ok := del.Query["versionId"]; ok {
		t.Errorf("delete of an unversioned probe has versionId: %s", del.RawQuery)
	}
	put := f.Only(t, "PutObject")
	if del.Key != put.Key {
		t.Errorf("deleted %s, probed another key", del.Key)
	}
	if put.Reply.Get("x-amz-version-id") != "" {
		t.Errorf("the unversioned destination answered the probe with version %s", put.Reply.Get("x-amz-version-id"))
	}
	if vs := f.Versions(dstBucket, put.Key); len(vs) != 0 {
		t.Errorf("the probe left %+v", vs)
	}
}

func TestPreflightKMSProbeNotDeleted(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", del: s3fake.Error(http.StatusForbidden, "AccessDenied")}})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k"}}}})
	put := f.Only(t, "PutObject")
	checkFindings(t, fs, wantFinding{false, []string{"s3://dst/" + put.Key, "could not be deleted", "AccessDenied"}})
}

func TestPreflightNoKMSProbe(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", put: s3fake.Error(http.StatusBadRequest, "KMS.NotFoundException")}})
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: false,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k1", "k2"}}}})
	checkFindings(t, fs)
	for _, op := range []string{"PutObject", "DeleteObject"} {
		if rs := f.Ops(op); len(rs) != 0 {
			t.Errorf("--no-kms-probe sent %s: %v", op, s3fake.Describe(rs))
		}
	}
}

func TestPreflightCanceled(t *testing.T) {
	f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RunPreflight(ctx, f.Client(srcClient), f.Client(dstClient),
		Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket}}})
	if err == nil {
		t.Error("RunPreflight with a cancelled context returned no error")
	}
}

// TestPreflightProbeReadBack: each probe object is read back (its version,
// with its SSE-C key, which is made for the probe and is none of the key
// file's); an endpoint that accepted the encryption and stored the object
// without it (as Ceph RGW does with SSE-S3) is a problem that names the
// encryption and what was stored, and the probe is still removed.
func TestPreflightProbeReadBack(t *testing.T) {
	for _, ignores := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignored %v", ignores), func(t *testing.T) {
			f := preflightFake(t, map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"}})
			if ignores {
				f.SetHook(func(r s3fake.Request) *s3fake.Reply {
					rep := f.Answer(r)
					if r.Op == "HeadObject" {
						for name := range rep.Header {
							if strings.HasPrefix(strings.ToLower(name), "x-amz-server-side-encryption") {
								rep.Header.Del(name)
							}
						}
					}
					return rep
				})
			}
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Probe: true,
				Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k1"}, SSEC: true, SSES3: true}}})
			var want []wantFinding
			if ignores {
				for _, enc := range []string{`SSE-KMS under key "k1"`, "SSE-C", "SSE-S3"} {
					want = append(want, wantFinding{true, []string{`destination bucket "dst"`, "written with " + enc, "stored it unencrypted",
						"ignores that encryption"}})
				}
			}
			checkFindings(t, fs, want...)
			puts, heads := f.Ops("PutObject"), f.Ops("HeadObject")
			if len(puts) != 3 || len(heads) != 3 || len(f.Ops("DeleteObject")) != 3 {
				t.Fatalf("%s, want three probes", s3fake.Describe(f.Requests()))
			}
			for i, put := range puts {
				if heads[i].Key != put.Key || heads[i].Query.Get("versionId") != put.Reply.Get("x-amz-version-id") {
					t.Errorf("probe %s read back as %s@%s", put.Key, heads[i].Key, heads[i].Query.Get("versionId"))
				}
				if vs := f.Versions(dstBucket, put.Key); len(vs) != 0 {
					t.Errorf("the probe left %+v", vs)
				}
			}
			ssec := puts[1]
			md5 := ssec.Header.Get(ssecPrefix + "key-md5")
			if ssec.Header.Get(ssecPrefix+"algorithm") != "AES256" || md5 == "" || heads[1].Header.Get(ssecPrefix+"key-md5") != md5 {
				t.Errorf("SSE-C probe headers %v, read back with %v", ssec.Header, heads[1].Header)
			}
			for _, k := range []s3fake.Key{keyA, keyB} {
				if md5 == k.MD5 {
					t.Errorf("the SSE-C probe used the key file's key %s", k.ID)
				}
			}
			if got := puts[2].Header.Get("x-amz-server-side-encryption"); got != "AES256" {
				t.Errorf("SSE-S3 probe x-amz-server-side-encryption %q", got)
			}
		})
	}
}
