package planner

import (
	"fmt"
	"testing"
)

// Decide's archive tiers, replica storage class, Bucket Key and rule id,
// which decide.golden does not show.

// checkDecision compares a decision with what a case expects.
// ReplicaStorageClass is compared only for decisions that copy: a skipped
// or failed version has no replica.
func checkDecision(t *testing.T, name string, got Decision, want Decision) {
	t.Helper()
	g, w := got, want
	if !w.Action.Copies() {
		g.ReplicaStorageClass, w.ReplicaStorageClass = "", ""
	}
	if g != w {
		t.Errorf("%s:\n got  %+v\n want %+v", name, got, want)
	}
}

func TestDecideArchived(t *testing.T) {
	ring := testRing(t)
	kms := Rules{MultipartThreshold: 8 * mib, ReplicateKMS: true, ReplicaKMSKeyID: "arn:replica-key", RuleID: "rule-1",
		StorageClass: "STANDARD_IA", DeleteMarkers: true}
	noKMS := Rules{MultipartThreshold: 8 * mib, RuleID: "rule-2"}
	archived := func(enc Encryption, size int64, f func(*Source)) Source {
		s := Source{Version: Version{Key: "photos/a.jpg", VersionID: "v1", Size: size, StorageClass: "GLACIER"}, Inspection: Inspection{Encryption: enc, Archived: true}}
		if f != nil {
			f(&s)
		}
		return s
	}
	fail := func(rule string) Decision {
		return Decision{Action: Fail, DestKey: "photos/a.jpg", ErrorCode: CodeArchived, Reason: ReasonArchived, RuleID: rule}
	}
	for _, tc := range []struct {
		name  string
		src   Source
		rules Rules
		ring  *KeyRing
		want  Decision
	}{
		{"not-sse", archived(NotSSE, 1024, nil), kms, ring, fail("rule-1")},
		{"sse-s3", archived(SSES3, 1024, nil), kms, ring, fail("rule-1")},
		{"sse-s3 multipart size", archived(SSES3, 8*mib+1, nil), kms, ring, fail("rule-1")},
		{"sse-kms, kms enabled", archived(SSEKMS, 1024, func(s *Source) { s.KMSKeyID, s.BucketKey = "arn:src", true }), kms, ring, fail("rule-1")},
		// Archived wins over "KMS replication not enabled": restoring it is
		// needed whatever the rules.
		{"sse-kms, kms disabled", archived(SSEKMS, 1024, nil), noKMS, ring, fail("rule-2")},
		{"dsse-kms", archived(DSSEKMS, 1024, nil), kms, ring, fail("rule-1")},
		{"sse-c opened", archived(SSEC, 1024, func(s *Source) { s.SSECKeyID = "plain" }), kms, ring, fail("rule-1")},
		{"sse-c no key opened it", archived(SSEC, 1024, nil), kms, ring, fail("rule-1")},
		{"sse-c no key file", archived(SSEC, 1024, func(s *Source) { s.SSECKeyID = "plain" }), kms, nil, fail("rule-1")},
		{"uninspected", archived("", 1024, nil), kms, ring, fail("rule-1")},
		{"deep archive", archived(NotSSE, 1, func(s *Source) { s.StorageClass = "DEEP_ARCHIVE" }), noKMS, ring, fail("rule-2")},
		// Not a copy, so a newer replicated version changes nothing.
		{"newer replicated", archived(NotSSE, 1024, func(s *Source) { s.NewerReplicated = true }), kms, ring, fail("rule-1")},
		// A delete marker has no data to restore.
		{"delete marker", Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm", DeleteMarker: true}, Inspection: Inspection{Archived: true}}, kms, ring,
			Decision{Action: ReplayDelete, DestKey: "photos/a.jpg", RuleID: "rule-1"}},
	} {
		checkDecision(t, tc.name, Decide(tc.src, tc.rules, tc.ring), tc.want)
	}

	// The same sources, restored, are copied.
	for _, enc := range []Encryption{NotSSE, SSES3, SSEKMS, DSSEKMS} {
		src := archived(enc, 1024, nil)
		src.Archived = false
		if d := Decide(src, kms, ring); d.Action != Copy || d.ErrorCode != "" {
			t.Errorf("restored %s: %s, want copy", enc, formatDecision(d))
		}
	}
}

func TestDecideReplicaStorageClass(t *testing.T) {
	ring := testRing(t)
	for _, class := range []string{"", "STANDARD", "STANDARD_IA", "GLACIER_IR", "REDUCED_REDUNDANCY"} {
		rules := Rules{MultipartThreshold: 8 * mib, ReplicateKMS: true, ReplicaKMSKeyID: "arn:r", StorageClass: class}
		for _, tc := range []struct {
			name   string
			src    Source
			action Action
		}{
			{"copy", Source{Version: Version{Key: "k", VersionID: "v", Size: 1, StorageClass: "STANDARD"}, Inspection: Inspection{Encryption: NotSSE}}, Copy},
			{"copy from another class", Source{Version: Version{Key: "k", VersionID: "v", Size: 1, StorageClass: "ONEZONE_IA"}, Inspection: Inspection{Encryption: SSES3}}, Copy},
			{"multipart", Source{Version: Version{Key: "k", VersionID: "v", Size: 8*mib + 1}, Inspection: Inspection{Encryption: SSEKMS}}, Multipart},
			{"sse-c", Source{Version: Version{Key: "k", VersionID: "v", Size: 1}, Inspection: Inspection{Encryption: SSEC, SSECKeyID: "old"}}, Copy},
			{"dsse", Source{Version: Version{Key: "k", VersionID: "v", Size: 1}, Inspection: Inspection{Encryption: DSSEKMS}}, Copy},
		} {
			d := Decide(tc.src, rules, ring)
			if d.Action != tc.action || d.ReplicaStorageClass != class {
				t.Errorf("class %q, %s: action %s, replica storage class %q; want %s, %q",
					class, tc.name, d.Action, d.ReplicaStorageClass, tc.action, class)
			}
		}
		// A replayed delete marker has no storage class.
		if d := Decide(Source{Version: Version{Key: "k", VersionID: "dm", DeleteMarker: true}}, Rules{MultipartThreshold: 8 * mib, DeleteMarkers: true, StorageClass: class}, ring); d.Action != ReplayDelete || d.ReplicaStorageClass != "" {
			t.Errorf("class %q, delete marker: %+v, want a replay without a storage class", class, d)
		}
	}
}

func TestDecideReplicaBucketKey(t *testing.T) {
	ring := testRing(t)
	kms := Rules{MultipartThreshold: 8 * mib, ReplicateKMS: true, ReplicaKMSKeyID: "arn:replica-key"}
	noKMS := Rules{MultipartThreshold: 8 * mib}
	src := func(enc Encryption, size int64, bucketKey bool) Source {
		s := Source{Version: Version{Key: "k", VersionID: "v", Size: size}, Inspection: Inspection{Encryption: enc, BucketKey: bucketKey}}
		if enc == SSEKMS || enc == DSSEKMS {
			s.KMSKeyID = "arn:source-key"
		}
		if enc == SSEC {
			s.SSECKeyID = "plain"
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		src     Source
		rules   Rules
		action  Action
		replica Encryption
		want    bool
	}{
		{"sse-kms with bucket key", src(SSEKMS, 1, true), kms, Copy, SSEKMS, true},
		{"sse-kms with bucket key, multipart", src(SSEKMS, 8*mib+1, true), kms, Multipart, SSEKMS, true},
		{"sse-kms without bucket key", src(SSEKMS, 1, false), kms, Copy, SSEKMS, false},
		{"dsse-kms with bucket key", src(DSSEKMS, 1, true), kms, Copy, DSSEKMS, false},
		{"dsse-kms without bucket key", src(DSSEKMS, 1, false), kms, Copy, DSSEKMS, false},
		{"sse-s3 with bucket key", src(SSES3, 1, true), kms, Copy, SSES3, false},
		{"not-sse with bucket key", src(NotSSE, 1, true), kms, Copy, "", false},
		{"sse-c with bucket key", src(SSEC, 1, true), kms, Copy, SSEC, false},
		{"sse-kms with bucket key, kms disabled", src(SSEKMS, 1, true), noKMS, Skip, "", false},
	} {
		d := Decide(tc.src, tc.rules, ring)
		if d.Action != tc.action || d.ReplicaEncryption != tc.replica || d.ReplicaBucketKey != tc.want {
			t.Errorf("%s: %s bucket-key=%v, want %s replica-enc=%s bucket-key=%v",
				tc.name, formatDecision(d), d.ReplicaBucketKey, tc.action, tc.replica, tc.want)
		}
	}
}

func TestDecideRuleID(t *testing.T) {
	ring := testRing(t)
	const rule = "backfill-rule-7"
	base := Rules{MultipartThreshold: 8 * mib, RuleID: rule}
	kms := Rules{MultipartThreshold: 8 * mib, RuleID: rule, ReplicateKMS: true, ReplicaKMSKeyID: "arn:r", DeleteMarkers: true,
		SourcePrefix: "photos/", DestPrefix: "backup/"}
	obj := func(enc Encryption, size int64) Source {
		return Source{Version: Version{Key: "photos/a.jpg", VersionID: "v1", Size: size}, Inspection: Inspection{Encryption: enc}}
	}
	dm := Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm", DeleteMarker: true}}
	newer := func(s Source) Source { s.NewerReplicated = true; return s }
	for _, tc := range []struct {
		name  string
		src   Source
		rules Rules
		want  Decision
	}{
		{"copy", obj(NotSSE, 1), base, Decision{Action: Copy, DestKey: "photos/a.jpg", RuleID: rule}},
		{"multipart", obj(SSEKMS, 8*mib+1), kms,
			Decision{Action: Multipart, DestKey: "backup/a.jpg", ReplicaEncryption: SSEKMS, ReplicaKMSKeyID: "arn:r", RuleID: rule}},
		{"delete marker", dm, kms, Decision{Action: ReplayDelete, DestKey: "backup/a.jpg", RuleID: rule}},
		{"delete marker skipped", dm, base,
			Decision{Action: Skip, DestKey: "photos/a.jpg", Reason: ReasonDeleteMarkersDisabled, RuleID: rule}},
		{"kms skipped", obj(SSEKMS, 1), base, Decision{Action: Skip, DestKey: "photos/a.jpg", Reason: ReasonKMSNotEnabled, RuleID: rule}},
		{"sse-c no key", obj(SSEC, 1), base,
			Decision{Action: Fail, DestKey: "photos/a.jpg", ErrorCode: CodeSSECKeyNotFound, Reason: ReasonNoKeyOpensVersion, RuleID: rule}},
		{"uninspected", obj("", 1), base,
			Decision{Action: Fail, DestKey: "photos/a.jpg", ErrorCode: CodeNotInspected, Reason: "source version was not inspected", RuleID: rule}},
		{"out of order copy", newer(obj(NotSSE, 1)), kms,
			Decision{Action: Fail, DestKey: "backup/a.jpg", ErrorCode: CodeOutOfOrder, Reason: ReasonOutOfOrder, RuleID: rule}},
		{"out of order multipart", newer(obj(SSEKMS, 8*mib+1)), kms,
			Decision{Action: Fail, DestKey: "backup/a.jpg", ErrorCode: CodeOutOfOrder, Reason: ReasonOutOfOrder, RuleID: rule}},
		{"out of order delete marker", newer(dm), kms,
			Decision{Action: Fail, DestKey: "backup/a.jpg", ErrorCode: CodeOutOfOrder, Reason: ReasonOutOfOrder, RuleID: rule}},
		{"no rule id", obj(NotSSE, 1), Rules{MultipartThreshold: 8 * mib}, Decision{Action: Copy, DestKey: "photos/a.jpg"}},
	} {
		checkDecision(t, tc.name, Decide(tc.src, tc.rules, ring), tc.want)
	}
}

// TestDecideNewFactsInvariants sweeps sources and rules for properties of
// the new decision fields.
func TestDecideNewFactsInvariants(t *testing.T) {
	ring := testRing(t)
	encs := []Encryption{"", NotSSE, SSES3, SSEKMS, DSSEKMS, SSEC}
	for _, enc := range encs {
		for _, size := range []int64{1, 8*mib + 1} {
			for bits := range 1 << 5 {
				src := Source{Version: Version{Key: "k", VersionID: "v", Size: size, DeleteMarker: bits&1 != 0}, Inspection: Inspection{Encryption: enc, SSECKeyID: "plain", Archived: bits&2 != 0, BucketKey: bits&4 != 0}, NewerReplicated: bits&8 != 0}
				rules := Rules{MultipartThreshold: 8 * mib, RuleID: "r", StorageClass: "STANDARD_IA", DeleteMarkers: true}
				if bits&16 != 0 {
					rules.ReplicateKMS, rules.ReplicaKMSKeyID = true, "arn:r"
				}
				d := Decide(src, rules, ring)
				desc := fmt.Sprintf("%s archived=%v bucket-key=%v kms=%v", formatSource(src), src.Archived, src.BucketKey, rules.ReplicateKMS)
				if d.RuleID != "r" {
					t.Errorf("%s: RuleID %q, want r", desc, d.RuleID)
				}
				if src.Archived && !src.DeleteMarker && d.ErrorCode != CodeArchived {
					t.Errorf("%s: %s, want fail %s", desc, formatDecision(d), CodeArchived)
				}
				if d.ErrorCode == CodeArchived && (!src.Archived || src.DeleteMarker || d.Action != Fail) {
					t.Errorf("%s: %s", desc, formatDecision(d))
				}
				if d.ReplicaBucketKey && (!src.BucketKey || d.ReplicaEncryption != SSEKMS || !d.Action.Copies()) {
					t.Errorf("%s: bucket key asked for with %s", desc, formatDecision(d))
				}
				if d.ReplicaBucketKey != (src.BucketKey && enc == SSEKMS && rules.ReplicateKMS && !src.Archived &&
					!src.DeleteMarker && !src.NewerReplicated) {
					t.Errorf("%s: ReplicaBucketKey = %v", desc, d.ReplicaBucketKey)
				}
				if (d.Action == Copy || d.Action == Multipart) && d.ReplicaStorageClass != "STANDARD_IA" {
					t.Errorf("%s: %s with storage class %q", desc, d.Action, d.ReplicaStorageClass)
				}
			}
		}
	}
}
