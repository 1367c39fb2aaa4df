package planner

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

const mib = 1 << 20

// testRing is a key file with a plain key, a rotated key ("old" opens old
// versions, "new" encrypts their replicas) and the new key itself.
func testRing(t *testing.T) *KeyRing {
	t.Helper()
	material := func(seed byte) string {
		raw := make([]byte, 32)
		for i := range raw {
			raw[i] = seed + byte(i)
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
	file := fmt.Sprintf(`{"keys": [
		{"id": "plain", "key": %q},
		{"id": "old", "key": %q, "replica_key": "new", "prefixes": ["archive/"]},
		{"id": "new", "key": %q}
	]}`, material(0), material(64), material(128))
	ring, err := ParseKeyFile(strings.NewReader(file))
	if err != nil {
		t.Fatalf("test key file: %v", err)
	}
	return ring
}

// decideCase is one line of testdata/decide.golden.
type decideCase struct {
	name  string
	src   Source
	rules Rules
	ring  ringKind
}

// ringKind says which key ring a case decides with.
type ringKind int

const (
	withRing  ringKind = iota // testRing
	noRing                    // no --keys file: a nil ring
	emptyRing                 // a ring without keys
)

func TestDecideGolden(t *testing.T) {
	base := Rules{MultipartThreshold: 8 * mib}
	kms := Rules{MultipartThreshold: 8 * mib, ReplicateKMS: true, ReplicaKMSKeyID: "arn:replica-key"}
	dm := Rules{MultipartThreshold: 8 * mib, DeleteMarkers: true}
	smallMax := Rules{MultipartThreshold: 100 * mib, maxCopyObject: 10 * mib}
	hugeThreshold := Rules{MultipartThreshold: 10 << 30}
	prefixed := Rules{MultipartThreshold: 8 * mib, SourcePrefix: "photos/", DestPrefix: "backup/photos/"}
	srcOnly := Rules{MultipartThreshold: 8 * mib, SourcePrefix: "photos/"}
	dstOnly := Rules{MultipartThreshold: 8 * mib, DestPrefix: "replica/"}
	normalized := Rules{MultipartThreshold: 8 * mib, SourcePrefix: NormalizePrefix("photos"), DestPrefix: NormalizePrefix("backup")}

	obj := func(enc Encryption, size int64) Source {
		return Source{Version: Version{Key: "photos/a.jpg", VersionID: "v1", Size: size}, Inspection: Inspection{Encryption: enc}}
	}
	with := func(s Source, f func(*Source)) Source { f(&s); return s }

	cases := []decideCase{
		// Encryption classes.
		{name: "not-sse", src: obj(NotSSE, 1024), rules: base},
		{name: "sse-s3", src: obj(SSES3, 1024), rules: base},
		{name: "sse-kms/kms-disabled", src: with(obj(SSEKMS, 1024), func(s *Source) { s.KMSKeyID = "arn:source-key" }), rules: base},
		{name: "sse-kms/kms-enabled", src: with(obj(SSEKMS, 1024), func(s *Source) { s.KMSKeyID = "arn:source-key" }), rules: kms},
		{name: "dsse-kms/kms-disabled", src: obj(DSSEKMS, 1024), rules: base},
		{name: "dsse-kms/kms-enabled", src: with(obj(DSSEKMS, 1024), func(s *Source) { s.KMSKeyID = "arn:source-key" }), rules: kms},
		{name: "sse-c/opened-by-plain", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "plain" }), rules: base},
		{name: "sse-c/opened-by-old-rotates-to-new", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "old" }), rules: base},
		{name: "sse-c/opened-by-new", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "new" }), rules: base},
		{name: "sse-c/no-key-opened-it", src: obj(SSEC, 1024), rules: base},
		{name: "sse-c/key-id-not-in-ring", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "removed" }), rules: base},
		{name: "sse-c/no-key-ring", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "plain" }), rules: base, ring: noRing},
		{name: "sse-c/empty-key-ring", src: with(obj(SSEC, 1024), func(s *Source) { s.SSECKeyID = "plain" }), rules: base, ring: emptyRing},
		{name: "sse-c/multipart-rotates", src: with(obj(SSEC, 8*mib+1), func(s *Source) { s.SSECKeyID = "old" }), rules: base},
		{name: "uninspected", src: obj("", 1024), rules: base},
		{name: "unknown-class", src: obj("AES256", 1024), rules: base},
		{name: "not-sse/no-key-ring", src: obj(NotSSE, 1024), rules: base, ring: noRing},

		// Delete markers.
		{name: "delete-marker/disabled", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}}, rules: base},
		{name: "delete-marker/enabled", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}}, rules: dm},
		{name: "delete-marker/enabled-prefixed", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}},
			rules: Rules{MultipartThreshold: 8 * mib, DeleteMarkers: true, SourcePrefix: "photos/", DestPrefix: "backup/"}},
		{name: "delete-marker/enabled-uninspected-sse-c", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}, Inspection: Inspection{Encryption: SSEC}}, rules: dm, ring: noRing},

		// Multipart threshold boundaries (threshold 8 MiB).
		{name: "size/zero", src: obj(NotSSE, 0), rules: base},
		{name: "size/threshold-1", src: obj(NotSSE, 8*mib-1), rules: base},
		{name: "size/threshold", src: obj(NotSSE, 8*mib), rules: base},
		{name: "size/threshold+1", src: obj(NotSSE, 8*mib+1), rules: base},
		{name: "size/kms-threshold+1", src: obj(SSEKMS, 8*mib+1), rules: kms},
		// CopyObject's own limit (lowered to 10 MiB, threshold 100 MiB).
		{name: "size/max-copy", src: obj(NotSSE, 10*mib), rules: smallMax},
		{name: "size/max-copy+1", src: obj(NotSSE, 10*mib+1), rules: smallMax},
		// The real 5 GiB limit, with a threshold above it.
		{name: "size/5GiB", src: obj(SSES3, MaxCopyObjectSize), rules: hugeThreshold},
		{name: "size/5GiB+1", src: obj(SSES3, MaxCopyObjectSize+1), rules: hugeThreshold},

		// A newer version is already replicated.
		{name: "newer-replicated/copy", src: with(obj(NotSSE, 1024), func(s *Source) { s.NewerReplicated = true }), rules: prefixed},
		{name: "newer-replicated/multipart", src: with(obj(NotSSE, 8*mib+1), func(s *Source) { s.NewerReplicated = true }), rules: base},
		{name: "newer-replicated/delete-marker", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}, NewerReplicated: true}, rules: dm},
		{name: "newer-replicated/delete-marker-disabled", src: Source{Version: Version{Key: "photos/a.jpg", VersionID: "dm1", DeleteMarker: true}, NewerReplicated: true}, rules: base},
		{name: "newer-replicated/kms-skip", src: with(obj(SSEKMS, 1024), func(s *Source) { s.NewerReplicated = true }), rules: base},
		{name: "newer-replicated/sse-c-no-key", src: with(obj(SSEC, 1024), func(s *Source) { s.NewerReplicated = true }), rules: base},

		// Replica keys.
		{name: "dest/no-prefixes", src: obj(NotSSE, 1), rules: base},
		{name: "dest/replaced-prefix", src: obj(NotSSE, 1), rules: prefixed},
		{name: "dest/source-prefix-only", src: obj(NotSSE, 1), rules: srcOnly},
		{name: "dest/dest-prefix-only", src: obj(NotSSE, 1), rules: dstOnly},
		{name: "dest/normalized", src: obj(NotSSE, 1), rules: normalized},
		{name: "dest/normalized-sibling-folder", src: Source{Version: Version{Key: "photos-old/a.jpg", VersionID: "v1", Size: 1}, Inspection: Inspection{Encryption: NotSSE}}, rules: normalized},
		{name: "dest/unnormalized-sibling-folder", src: Source{Version: Version{Key: "photos-old/a.jpg", VersionID: "v1", Size: 1}, Inspection: Inspection{Encryption: NotSSE}},
			rules: Rules{MultipartThreshold: 8 * mib, SourcePrefix: "photos", DestPrefix: "backup/"}},
		{name: "dest/unicode-and-spaces", src: Source{Version: Version{Key: "photos/ünï côdé/a b.jpg", VersionID: "v1", Size: 1}, Inspection: Inspection{Encryption: NotSSE}}, rules: prefixed},
	}

	ring := testRing(t)
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		var r *KeyRing
		switch c.ring {
		case withRing:
			r = ring
		case emptyRing:
			r = &KeyRing{}
		}
		d := Decide(c.src, c.rules, r)
		fmt.Fprintf(&out, "%-44s %s -> %s\n", c.name, formatSource(c.src), formatDecision(d))
	}

	golden := filepath.Join("testdata", "decide.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./planner -run TestDecideGolden -update to create it)", err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("decisions differ from %s (rerun with -update if the change is intended):\n%s", golden, lineDiff(string(want), got))
	}
}

func formatSource(s Source) string {
	var b strings.Builder
	fmt.Fprintf(&b, "key=%q", s.Key)
	if s.DeleteMarker {
		b.WriteString(" delete-marker")
	} else {
		fmt.Fprintf(&b, " size=%d", s.Size)
	}
	enc := string(s.Encryption)
	if enc == "" {
		enc = "(uninspected)"
	}
	fmt.Fprintf(&b, " enc=%s", enc)
	if s.KMSKeyID != "" {
		fmt.Fprintf(&b, " kms=%s", s.KMSKeyID)
	}
	if s.SSECKeyID != "" {
		fmt.Fprintf(&b, " ssec=%s", s.SSECKeyID)
	}
	if s.NewerReplicated {
		b.WriteString(" newer-replicated")
	}
	return b.String()
}

func formatDecision(d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s dest=%q", d.Action, d.DestKey)
	if d.ReplicaEncryption != "" {
		fmt.Fprintf(&b, " replica-enc=%s", d.ReplicaEncryption)
	}
	if d.ReplicaKMSKeyID != "" {
		fmt.Fprintf(&b, " replica-kms=%s", d.ReplicaKMSKeyID)
	}
	if d.ReplicaSSECKeyID != "" {
		fmt.Fprintf(&b, " replica-ssec=%s", d.ReplicaSSECKeyID)
	}
	if d.ErrorCode != "" {
		fmt.Fprintf(&b, " code=%s", d.ErrorCode)
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", d.Reason)
	}
	return b.String()
}

// lineDiff lists the lines that differ, by line number.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// TestDecideInvariants checks, over many sources and rule sets, properties
// that hold for every decision, so that a case missing from the golden
// file cannot hide a contradiction.
func TestDecideInvariants(t *testing.T) {
	ring := testRing(t)
	encs := []Encryption{"", NotSSE, SSES3, SSEKMS, DSSEKMS, SSEC}
	sizes := []int64{0, 1, 8*mib - 1, 8 * mib, 8*mib + 1, MaxCopyObjectSize, MaxCopyObjectSize + 1}
	keyIDs := []string{"", "plain", "old", "new", "missing"}
	for _, enc := range encs {
		for _, size := range sizes {
			for _, kid := range keyIDs {
				for _, rules := range []Rules{
					{MultipartThreshold: 8 * mib},
					{MultipartThreshold: 8 * mib, ReplicateKMS: true, ReplicaKMSKeyID: "arn:r", DeleteMarkers: true},
				} {
					for _, dmk := range []bool{false, true} {
						src := Source{Version: Version{Key: "k", VersionID: "v", Size: size, DeleteMarker: dmk}, Inspection: Inspection{Encryption: enc, SSECKeyID: kid}}
						d := Decide(src, rules, ring)
						checkInvariants(t, src, rules, d)

						// A newer replicated version turns exactly the
						// copying decisions into out-of-order failures.
						src.NewerReplicated = true
						nd := Decide(src, rules, ring)
						checkInvariants(t, src, rules, nd)
						want := d
						if d.Action.Copies() {
							want = Decision{Action: Fail, DestKey: d.DestKey, ErrorCode: CodeOutOfOrder, Reason: ReasonOutOfOrder}
						}
						if nd != want {
							t.Errorf("%s: got %s, want %s", formatSource(src), formatDecision(nd), formatDecision(want))
						}
					}
				}
			}
		}
	}
}

func checkInvariants(t *testing.T, src Source, rules Rules, d Decision) {
	t.Helper()
	desc := fmt.Sprintf("%s under %+v", formatSource(src), rules)
	if d.DestKey != "k" {
		t.Errorf("%s: DestKey %q, want %q", desc, d.DestKey, "k")
	}
	switch d.Action {
	case Copy, Multipart, ReplayDelete:
		if src.NewerReplicated {
			t.Errorf("%s: %s although a newer version is replicated", desc, d.Action)
		}
		if d.ErrorCode != "" || d.Reason != "" {
			t.Errorf("%s: %s with code %q reason %q", desc, d.Action, d.ErrorCode, d.Reason)
		}
		if (d.Action == ReplayDelete) != src.DeleteMarker {
			t.Errorf("%s: action %s for delete marker=%v", desc, d.Action, src.DeleteMarker)
		}
		if d.Action == Copy && src.Size > rules.MultipartThreshold {
			t.Errorf("%s: Copy of %d bytes above threshold %d", desc, src.Size, rules.MultipartThreshold)
		}
		if d.Action == Multipart && src.Size <= rules.MultipartThreshold && src.Size <= MaxCopyObjectSize {
			t.Errorf("%s: Multipart of %d bytes within threshold", desc, src.Size)
		}
		if (d.ReplicaSSECKeyID != "") != (d.ReplicaEncryption == SSEC) {
			t.Errorf("%s: replica SSE-C key %q with replica encryption %q", desc, d.ReplicaSSECKeyID, d.ReplicaEncryption)
		}
		if (d.ReplicaKMSKeyID != "") != (d.ReplicaEncryption == SSEKMS || d.ReplicaEncryption == DSSEKMS) {
			t.Errorf("%s: replica KMS key %q with replica encryption %q", desc, d.ReplicaKMSKeyID, d.ReplicaEncryption)
		}
	case Skip:
		if d.Reason == "" || d.ErrorCode != "" {
			t.Errorf("%s: skip with code %q reason %q", desc, d.ErrorCode, d.Reason)
		}
	case Fail:
		if d.Reason == "" || d.ErrorCode == "" {
			t.Errorf("%s: fail with code %q reason %q", desc, d.ErrorCode, d.Reason)
		}
		if d.ErrorCode == CodeOutOfOrder && !src.NewerReplicated {
			t.Errorf("%s: out-of-order failure without a newer replicated version", desc)
		}
	default:
		t.Errorf("%s: unknown action %q", desc, d.Action)
	}
	if d.Action.Copies() != (d.Action == Copy || d.Action == Multipart || d.Action == ReplayDelete) {
		t.Errorf("%s: Copies() = %v for %s", desc, d.Action.Copies(), d.Action)
	}
}

// TestDecideKeyOnCopy: an SSE-C version whose key is left to the copy is
// planned as an SSE-C copy without a replica key (the copy's key decides
// it); without KeyOnCopy it fails as before, and without a key file too.
func TestDecideKeyOnCopy(t *testing.T) {
	src := Source{Version: Version{Key: "docs/a", VersionID: "v1", Size: 10, ETag: `"e"`},
		Inspection: Inspection{Inspected: true, From: FactsManifest, Encryption: SSEC}}
	rules := Rules{MultipartThreshold: 64 * mib}
	if d := Decide(src, rules, testRing(t)); d.Action != Fail || d.ErrorCode != CodeSSECKeyNotFound {
		t.Errorf("without KeyOnCopy: %+v, want a failure", d)
	}
	src.KeyOnCopy = true
	d := Decide(src, rules, testRing(t))
	if d.Action != Copy || d.ReplicaEncryption != SSEC || d.ReplicaSSECKeyID != "" {
		t.Errorf("KeyOnCopy: %+v, want an SSE-C copy, its replica key left to the copy", d)
	}
	src.Size = 100 * mib
	if d := Decide(src, rules, testRing(t)); d.Action != Multipart {
		t.Errorf("KeyOnCopy above the threshold: %+v, want multipart (the job then finds the key by HEAD)", d)
	}
	if d := Decide(src, rules, nil); d.Action != Fail || d.Reason != ReasonNoKeyFile {
		t.Errorf("KeyOnCopy without a key file: %+v, want %q", d, ReasonNoKeyFile)
	}
}
