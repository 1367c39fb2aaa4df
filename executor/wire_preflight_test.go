package executor

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// bucketState is how the preflight fake answers for one bucket.
type bucketState struct {
	head       *reply // HeadBucket; nil = 200
	versioning string // GetBucketVersioning <Status>: "" = never enabled
	// encryption is the GetBucketEncryption body (the rules); "" = no
	// default encryption configured (404).
	encryption string
	put        *reply // PutObject; nil = the fake's default (200 with a version id)
	del        *reply // DeleteObject; nil = the fake's default
}

// preflightHook answers the bucket-level requests of RunPreflight from
// states (by bucket); object requests go to the fake's defaults unless a
// state overrides them.
func preflightHook(states map[string]bucketState) func(request) *reply {
	return func(r request) *reply {
		st := states[r.Bucket]
		if r.Key == "" {
			_, versioning := r.Query["versioning"]
			_, encryption := r.Query["encryption"]
			switch {
			case r.Method == http.MethodHead:
				if st.head != nil {
					return st.head
				}
				return &reply{status: http.StatusOK, header: hdr("x-amz-bucket-region", "us-east-1")}
			case r.Method == http.MethodGet && versioning:
				status := ""
				if st.versioning != "" {
					status = "<Status>" + st.versioning + "</Status>"
				}
				return xmlReply("<VersioningConfiguration" + ns + ">" + status + "</VersioningConfiguration>")
			case r.Method == http.MethodGet && encryption:
				if st.encryption == "" {
					return s3Error(http.StatusNotFound, "ServerSideEncryptionConfigurationNotFoundError")
				}
				return xmlReply("<ServerSideEncryptionConfiguration" + ns + ">" + st.encryption + "</ServerSideEncryptionConfiguration>")
			}
			return s3Error(http.StatusNotImplemented, "NotImplemented")
		}
		switch {
		case r.Op == "PutObject" && st.put != nil:
			return st.put
		case r.Op == "DeleteObject" && st.del != nil:
			return st.del
		}
		return nil
	}
}

// bucketOp names a request as preflight sees it.
func bucketOp(r request) string {
	if r.Key != "" {
		return r.Op
	}
	switch _, v := r.Query["versioning"]; {
	case r.Method == http.MethodHead:
		return "HeadBucket"
	case v:
		return "GetBucketVersioning"
	}
	if _, e := r.Query["encryption"]; e {
		return "GetBucketEncryption"
	}
	return r.Op
}

// preflightOps lists the requests sent for one bucket, in order.
func preflightOps(f *fakeS3, bucket string) []string {
	var out []string
	for _, r := range f.requests() {
		if r.Bucket == bucket {
			out = append(out, bucketOp(r))
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

func runPreflight(t *testing.T, f *fakeS3, p Preflight) []Finding {
	t.Helper()
	fs, err := RunPreflight(context.Background(), f.client(srcAccessKey), f.client(dstAccessKey), p)
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

func TestPreflightAllWell(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{
		srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", encryption: blockNone},
	}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, SSEC: true}}})
	checkFindings(t, fs)
	if got, want := strings.Join(preflightOps(f, srcBucket), ","), "HeadBucket,GetBucketVersioning"; got != want {
		t.Errorf("source requests %s, want %s", got, want)
	}
	// No KMS keys: nothing to probe.
	if got, want := strings.Join(preflightOps(f, dstBucket), ","), "HeadBucket,GetBucketVersioning,GetBucketEncryption"; got != want {
		t.Errorf("destination requests %s, want %s", got, want)
	}
	for _, r := range f.requests() {
		wantClient := "dst"
		if r.Bucket == srcBucket {
			wantClient = "src"
		}
		if r.Client != wantClient {
			t.Errorf("%s on %s sent by %q, want %q", bucketOp(r), r.Bucket, r.Client, wantClient)
		}
	}
}

func TestPreflightBucketMissingOrDenied(t *testing.T) {
	head404 := &reply{status: http.StatusNotFound}
	head403 := &reply{status: http.StatusForbidden}
	for _, tc := range []struct {
		name   string
		states map[string]bucketState
		want   []wantFinding
		// requests per bucket, in order
		srcOps, dstOps, otherOps string
	}{
		{
			name:   "source missing",
			states: map[string]bucketState{srcBucket: {head: head404}, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "does not exist"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption,PutObject,DeleteObject",
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name:   "source denied",
			states: map[string]bucketState{srcBucket: {head: head403}, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "access denied"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption,PutObject,DeleteObject",
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			// A missing destination gets no further request; the
			// next destination is still checked.
			name:   "destination missing",
			states: map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {head: head404, encryption: blockSSEC}, "other": {versioning: "Enabled"}},
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
			states: map[string]bucketState{srcBucket: {head: &reply{status: http.StatusMovedPermanently, header: hdr("x-amz-bucket-region", "eu-west-1")}}, dstBucket: {versioning: "Enabled"}, "other": {versioning: "Enabled"}},
			want:   []wantFinding{{true, []string{`source bucket "src"`, "another region", "--region"}}},
			srcOps: "HeadBucket", dstOps: "HeadBucket,GetBucketVersioning,GetBucketEncryption,PutObject,DeleteObject",
			otherOps: "HeadBucket,GetBucketVersioning",
		},
		{
			name: "all missing",
			states: map[string]bucketState{srcBucket: {head: head404}, dstBucket: {head: head404},
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
			f := newFakeS3(t)
			f.setHook(preflightHook(tc.states))
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true, Targets: []PreflightTarget{
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
			f := newFakeS3(t)
			f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: tc.src}, dstBucket: {versioning: tc.dst}}))
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
	f := newFakeS3(t)
	states := map[string]bucketState{srcBucket: {versioning: "Enabled"}}
	inner := preflightHook(states)
	f.setHook(func(r request) *reply {
		if r.Bucket == dstBucket && bucketOp(r) == "GetBucketVersioning" {
			return s3Error(http.StatusForbidden, "AccessDenied")
		}
		return inner(r)
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
			f := newFakeS3(t)
			f.setHook(preflightHook(map[string]bucketState{
				srcBucket: {versioning: "Enabled"},
				dstBucket: {versioning: "Enabled", encryption: tc.encryption},
			}))
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket, SSEC: tc.ssec}}})
			checkFindings(t, fs, tc.want...)
			var asked bool
			for _, r := range f.requests() {
				if bucketOp(r) == "GetBucketEncryption" {
					asked = true
					if r.Bucket != dstBucket || r.Client != "dst" {
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
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"}}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{key}}}})
	checkFindings(t, fs)

	put := only(t, f, "PutObject")
	if put.Client != "dst" || put.Bucket != dstBucket || !strings.HasPrefix(put.Key, ProbePrefix) || len(put.Key) <= len(ProbePrefix) {
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

	del := only(t, f, "DeleteObject")
	if del.Client != "dst" || del.Bucket != dstBucket || del.Key != put.Key {
		t.Errorf("probe delete of %s/%s by %s, want dst %s/%s", del.Bucket, del.Key, del.Client, dstBucket, put.Key)
	}
	if got, want := del.Query.Get("versionId"), put.Reply.Get("x-amz-version-id"); want == "" || got != want {
		t.Errorf("probe delete versionId = %q, want the probe's version %q", got, want)
	}
	ops := preflightOps(f, dstBucket)
	if got, want := strings.Join(ops, ","), "HeadBucket,GetBucketVersioning,PutObject,DeleteObject"; got != want {
		t.Errorf("destination requests %s, want %s", got, want)
	}
}

func TestPreflightKMSProbeEachKey(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"}, dstBucket: {versioning: "Enabled"},
		"other": {versioning: "Enabled"}}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true, Targets: []PreflightTarget{
		{Bucket: dstBucket, KMSKeys: []string{"k1", "k2"}}, {Bucket: "other", KMSKeys: []string{"k3"}}}})
	checkFindings(t, fs)
	puts := f.ops("PutObject")
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
	if n := len(f.ops("DeleteObject")); n != 3 {
		t.Errorf("%d probe deletes, want 3", n)
	}
}

func TestPreflightKMSProbeRefused(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/gone"
	for _, tc := range []struct {
		name string
		put  *reply
		code string
	}{
		{"key not found", s3Error(http.StatusBadRequest, "KMS.NotFoundException"), "KMS.NotFoundException"},
		{"access denied", s3Error(http.StatusForbidden, "AccessDenied"), "AccessDenied"},
		{"key disabled", s3Error(http.StatusBadRequest, "KMS.DisabledException"), "KMS.DisabledException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3(t)
			f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"},
				dstBucket: {versioning: "Enabled", put: tc.put}}))
			fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true,
				Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{key}}}})
			checkFindings(t, fs, wantFinding{true, []string{`replica KMS key "` + key + `"`, `destination bucket "dst"`,
				tc.code, "fake " + tc.code, "--no-kms-probe"}})
			only(t, f, "PutObject")
			if rs := f.ops("DeleteObject"); len(rs) != 0 {
				t.Errorf("nothing was written, yet deleted: %v", describe(rs))
			}
		})
	}
}

func TestPreflightKMSProbeUnversioned(t *testing.T) {
	// An unversioned destination's PutObject has no version id: the
	// probe is deleted by key.
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"},
		dstBucket: {put: &reply{status: http.StatusOK, header: hdr("ETag", `"e"`)}}}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k"}}}})
	checkFindings(t, fs, wantFinding{false, []string{`destination bucket "dst" is never enabled`}})
	del := only(t, f, "DeleteObject")
	if _, ok := del.Query["versionId"]; ok {
		t.Errorf("delete of an unversioned probe has versionId: %s", del.RawQuery)
	}
	if del.Key != only(t, f, "PutObject").Key {
		t.Errorf("deleted %s, probed another key", del.Key)
	}
}

func TestPreflightKMSProbeNotDeleted(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", del: s3Error(http.StatusForbidden, "AccessDenied")}}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: true,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k"}}}})
	put := only(t, f, "PutObject")
	checkFindings(t, fs, wantFinding{false, []string{"s3://dst/" + put.Key, "could not be deleted", "AccessDenied"}})
}

func TestPreflightNoKMSProbe(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(preflightHook(map[string]bucketState{srcBucket: {versioning: "Enabled"},
		dstBucket: {versioning: "Enabled", put: s3Error(http.StatusBadRequest, "KMS.NotFoundException")}}))
	fs := runPreflight(t, f, Preflight{SourceBucket: srcBucket, ProbeKMS: false,
		Targets: []PreflightTarget{{Bucket: dstBucket, KMSKeys: []string{"k1", "k2"}}}})
	checkFindings(t, fs)
	for _, op := range []string{"PutObject", "DeleteObject"} {
		if rs := f.ops(op); len(rs) != 0 {
			t.Errorf("--no-kms-probe sent %s: %v", op, describe(rs))
		}
	}
}

func TestPreflightCanceled(t *testing.T) {
	f := newFakeS3(t)
	f.setHook(preflightHook(nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RunPreflight(ctx, f.client(srcAccessKey), f.client(dstAccessKey),
		Preflight{SourceBucket: srcBucket, Targets: []PreflightTarget{{Bucket: dstBucket}}})
	if err == nil {
		t.Error("RunPreflight with a cancelled context returned no error")
	}
}
