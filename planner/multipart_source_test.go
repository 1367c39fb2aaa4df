package planner

import "testing"

func TestMultipartParts(t *testing.T) {
	for etag, want := range map[string]int{
		`"d41d8cd98f00b204e9800998ecf8427e-3"`:   3,
		"D41D8CD98F00B204E9800998ECF8427E-10000": 10000,
		"d41d8cd98f00b204e9800998ecf8427e":       0,
		"d41d8cd98f00b204e9800998ecf8427e-0":     0,
		"d41d8cd98f00b204e9800998ecf8427e-10001": 0,
		"d41d8cd98f00b204e9800998ecf8427e-x":     0,
		"src-etag-1":                             0,
		"zz1d8cd98f00b204e9800998ecf8427e-2":     0,
		"":                                       0,
	} {
		if got := MultipartParts(etag); got != want {
			t.Errorf("MultipartParts(%q) = %d, want %d", etag, got, want)
		}
	}
}

// TestMultipartSourceKeepsItsShape: a multipart source is copied in parts
// even below the threshold; a single-part one is not.
func TestMultipartSourceKeepsItsShape(t *testing.T) {
	rules := Rules{MultipartThreshold: 64 << 20}
	src := Source{Version: Version{Key: "k", Size: 12 << 20, ETag: `"0123456789abcdef0123456789abcdef-3"`}, Inspection: Inspection{Encryption: NotSSE}}
	if d := Decide(src, rules, nil); d.Action != Multipart {
		t.Errorf("multipart source: %s, want multipart", d.Action)
	}
	src.ETag = `"0123456789abcdef0123456789abcdef"`
	if d := Decide(src, rules, nil); d.Action != Copy {
		t.Errorf("single-part source: %s, want copy", d.Action)
	}
}

// TestCutAtPartSize: with --part-layout size, a multipart source below the
// threshold is one CopyObject like any other.
func TestCutAtPartSize(t *testing.T) {
	rules := Rules{MultipartThreshold: 64 << 20, CutAtPartSize: true}
	if d := Decide(Source{Version: Version{Key: "k", Size: 12 << 20, ETag: `"0123456789abcdef0123456789abcdef-3"`}, Inspection: Inspection{Encryption: NotSSE}}, rules, nil); d.Action != Copy {
		t.Errorf("multipart source with CutAtPartSize: %s, want copy", d.Action)
	}
}
