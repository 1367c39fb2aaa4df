package planner_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// material returns n distinct bytes starting at seed, so that every test
// key is recognisable in any output.
func material(seed byte, n int) []byte {
	raw := make([]byte, n)
	for i := range raw {
		raw[i] = seed + byte(i)*7
	}
	return raw
}

func b64(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// md5Of is the MD5 header value of a raw key: base64(md5(raw)).
func md5Of(raw []byte) string {
	sum := md5.Sum(raw)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// secrets lists every form in which raw key material could leak.
func secrets(raws ...[]byte) []string {
	var out []string
	for _, raw := range raws {
		out = append(out,
			b64(raw),
			base64.RawStdEncoding.EncodeToString(raw),
			base64.URLEncoding.EncodeToString(raw),
			hex.EncodeToString(raw),
			strings.ToUpper(hex.EncodeToString(raw)),
			string(raw),
			fmt.Sprint(raw), // [1 8 15 ...]
		)
	}
	return out
}

// assertNoSecret fails if s holds any of the secrets.
func assertNoSecret(t *testing.T, what, s string, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s leaks key material %q:\n%s", what, sec, s)
		}
	}
}

var (
	rawA = material(1, 32)
	rawB = material(50, 32)
	rawC = material(100, 32)
	// Wrong sizes, still secret.
	raw16 = material(150, 16)
	raw33 = material(200, 33)
)

func TestParseKeyFileValid(t *testing.T) {
	file := fmt.Sprintf(`{"keys": [
		{"id": "a", "key": %q, "prefixes": ["photos/", "docs/"]},
		{"id": "b", "key": %q, "replica_key": "c"},
		{"id": "c", "key": "  %s\n"}
	]}`+"\n\n", b64(rawA), b64(rawB), b64(rawC))
	ring, err := planner.ParseKeyFile(strings.NewReader(file))
	if err != nil {
		t.Fatalf("ParseKeyFile: %v", err)
	}
	if ring.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", ring.Len())
	}
	for _, want := range []struct {
		id       string
		raw      []byte
		prefixes []string
		replica  string
	}{
		{"a", rawA, []string{"photos/", "docs/"}, ""},
		{"b", rawB, nil, "c"},
		{"c", rawC, nil, ""},
	} {
		k := ring.ByID(want.id)
		if k == nil {
			t.Fatalf("ByID(%q) = nil", want.id)
		}
		if k.ID != want.id || k.ReplicaKey != want.replica || fmt.Sprint(k.Prefixes) != fmt.Sprint(want.prefixes) {
			t.Errorf("key %q = {ID:%q Prefixes:%q ReplicaKey:%q}, want {ID:%q Prefixes:%q ReplicaKey:%q}",
				want.id, k.ID, k.Prefixes, k.ReplicaKey, want.id, want.prefixes, want.replica)
		}
		if got := k.Base64(); got != b64(want.raw) {
			t.Errorf("key %q: Base64() = %q, want %q", want.id, got, b64(want.raw))
		}
		sum := md5.Sum(want.raw)
		if got, wantMD5 := k.MD5(), base64.StdEncoding.EncodeToString(sum[:]); got != wantMD5 {
			t.Errorf("key %q: MD5() = %q, want base64(md5(raw)) = %q", want.id, got, wantMD5)
		}
	}
	if ring.ByID("a").MD5() == ring.ByID("b").MD5() {
		t.Error("two different keys have the same MD5")
	}
	if k := ring.ByID("missing"); k != nil {
		t.Errorf("ByID(missing) = %v, want nil", k)
	}
	if k := ring.ByID(""); k != nil {
		t.Errorf(`ByID("") = %v, want nil`, k)
	}
}

func TestNilKeyRing(t *testing.T) {
	var ring *planner.KeyRing
	if ring.Len() != 0 {
		t.Errorf("nil ring Len() = %d", ring.Len())
	}
	if ring.ByID("a") != nil {
		t.Error("nil ring ByID returned a key")
	}
	if c := ring.Candidates("photos/a"); c != nil {
		t.Errorf("nil ring Candidates = %v", c)
	}
	if ring.ReplicaFor(nil) != nil {
		t.Error("ReplicaFor(nil) on a nil ring returned a key")
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	a := fmt.Sprintf(`{"id": "a", "key": %q}`, b64(rawA))
	b := fmt.Sprintf(`{"id": "b", "key": %q}`, b64(rawB))
	file := func(entries ...string) string { return `{"keys": [` + strings.Join(entries, ", ") + `]}` }
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{"bad JSON: trailing comma", `{"keys": [` + a + `, ` + b + `,]}`,
			[]string{"not valid JSON", "syntax error at byte"}},
		{"bad JSON: invalid escape inside the key", file(a, fmt.Sprintf(`{"id": "b", "key": "%s\q"}`, b64(rawB))),
			[]string{"not valid JSON", "syntax error at byte"}},
		{"bad JSON: truncated", file(a, b)[:len(file(a, b))-2],
			[]string{"not valid JSON"}},
		{"bad JSON: key is a number", file(a, `{"id": "b", "key": 12345}`),
			[]string{`entry 2: field "key" has the wrong type`}},
		{"bad JSON: keys is an object", `{"keys": ` + a + `}`,
			[]string{"not valid JSON", "wrong type"}},
		{"bad JSON: top level array", `[` + a + `]`,
			[]string{"not valid JSON", "wrong type"}},
		{"empty file", ``, []string{"the file is empty"}},
		{"whitespace-only file", " \n\t\n", []string{"the file is empty"}},
		{"no keys", `{"keys": []}`, []string{"no keys"}},
		{"empty object", `{}`, []string{"no keys"}},
		{"unknown field in an entry", file(a, fmt.Sprintf(`{"id": "b", "key": %q, "prefix": ["x/"]}`, b64(rawB))),
			[]string{`entry 2: a field is not one of id, key, prefixes, replica_key`}},
		{"unknown field named as a key", file(a, fmt.Sprintf(`{"id": "b", "key": %q, %q: "x"}`, b64(rawB), b64(rawC))),
			[]string{`entry 2: a field is not one of id, key, prefixes, replica_key`}},
		{"field name in capitals", file(a, fmt.Sprintf(`{"id": "b", "KEY": %q}`, b64(rawB))),
			[]string{`entry 2: a field is not one of`, "matched exactly, in lower case"}},
		{"the key twice, in two cases", file(a, fmt.Sprintf(`{"id": "b", "key": %q, "Key": %q}`, b64(rawB), b64(rawC))),
			[]string{`entry 2: a field is not one of`}},
		{"unknown top-level field", `{"keys": [` + a + `], "version": 2}`,
			[]string{`a field other than "keys"`}},
		{"top-level field named as a key", `{"keys": [` + a + `], "` + b64(rawC) + `": 2}`,
			[]string{`a field other than "keys"`}},
		{"id is a key", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, b64(rawC), b64(rawB))),
			[]string{`entry 2: the "id" looks like a key`}},
		{"id is a key in URL-safe base64", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, base64.RawURLEncoding.EncodeToString(rawC), b64(rawB))),
			[]string{`entry 2: the "id" looks like a key`}},
		{"id is the entry's own key", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, b64(rawB), b64(rawB))),
			[]string{`entry 2: the "id" looks like a key`}},
		{"id is a key's MD5", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, md5Of(rawA), b64(rawB))),
			[]string{`entry 2: the "id" looks like a key or a key's MD5`}},
		{"id holds another entry's key", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, "x-"+b64(rawA), b64(rawB))),
			[]string{`entry 2: the "id" holds a key of the file`}},
		{"id holds another entry's MD5", file(a, fmt.Sprintf(`{"id": %q, "key": %q}`, "md5 "+md5Of(rawA), b64(rawB))),
			[]string{`entry 2: the "id" holds a key of the file (or its MD5)`}},
		{"same key under two ids", file(a, b, fmt.Sprintf(`{"id": "a2", "key": %q}`, b64(rawA))),
			[]string{`entries 1 (id "a") and 3 (id "a2") hold the same key`}},
		{"missing id", file(a, fmt.Sprintf(`{"key": %q}`, b64(rawB))),
			[]string{`entry 2: missing "id"`}},
		{"blank id", file(a, fmt.Sprintf(`{"id": "  ", "key": %q}`, b64(rawB))),
			[]string{`entry 2: missing "id"`}},
		{"duplicate id", file(a, b, fmt.Sprintf(`{"id": "a", "key": %q}`, b64(rawC))),
			[]string{`entry 3 (id "a"): duplicate id`}},
		{"key not base64", file(a, `{"id": "x", "key": "this is !not! base64"}`),
			[]string{`entry 2: "key" is not valid standard base64`}},
		{"key in URL-safe base64", file(a, fmt.Sprintf(`{"id": "x", "key": %q}`, base64.URLEncoding.EncodeToString(material(250, 32)))),
			[]string{`entry 2: "key" is not valid standard base64`}},
		{"key without padding", file(a, fmt.Sprintf(`{"id": "x", "key": %q}`, base64.RawStdEncoding.EncodeToString(rawB))),
			[]string{`entry 2: "key" is not valid standard base64`}},
		{"key of 16 bytes", file(a, fmt.Sprintf(`{"id": "x", "key": %q}`, b64(raw16))),
			[]string{`entry 2: "key" decodes to 16 bytes`, "exactly 32"}},
		{"key of 33 bytes", file(a, b, fmt.Sprintf(`{"id": "x", "key": %q}`, b64(raw33))),
			[]string{`entry 3: "key" decodes to 33 bytes`, "exactly 32"}},
		{"key missing", file(a, `{"id": "x"}`),
			[]string{`entry 2: "key" decodes to 0 bytes`}},
		{"replica_key names an unknown id", file(a, fmt.Sprintf(`{"id": "x", "key": %q, "replica_key": "nope"}`, b64(rawB))),
			[]string{`entry 2 (id "x"): replica_key names no entry of this file`}},
		{"replica_key names a later entry that is unknown", file(fmt.Sprintf(`{"id": "x", "key": %q, "replica_key": "b2"}`, b64(rawC)), b),
			[]string{`entry 1 (id "x"): replica_key names no entry`}},
		{"trailing closing brace", file(a) + "}", []string{"unexpected data after the JSON object"}},
		{"trailing closing bracket", file(a) + "\n]}\n", []string{"unexpected data after the JSON object"}},
		{"trailing object", file(a) + ` {"keys": []}`, []string{"unexpected data after the JSON object"}},
		{"trailing garbage", file(a) + "\nxyz", []string{"unexpected data after the JSON object"}},
		{"two key files concatenated", file(a) + file(b), []string{"unexpected data after the JSON object"}},
	}
	leaks := secrets(rawA, rawB, rawC, raw16, raw33, material(250, 32))
	leaks = append(leaks, md5Of(rawA), md5Of(rawB), md5Of(rawC), base64.RawURLEncoding.EncodeToString(rawC))
	leaks = append(leaks, "this is !not! base64")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ring, err := planner.ParseKeyFile(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseKeyFile accepted %s (%d keys)", tt.in, ring.Len())
			}
			if ring != nil {
				t.Errorf("ParseKeyFile returned a ring with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			assertNoSecret(t, "error", err.Error(), leaks)
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v %#v", err, err), leaks)
		})
	}
}

func loadRing(t *testing.T, entries ...string) *planner.KeyRing {
	t.Helper()
	ring, err := planner.ParseKeyFile(strings.NewReader(`{"keys": [` + strings.Join(entries, ",") + `]}`))
	if err != nil {
		t.Fatalf("ParseKeyFile: %v", err)
	}
	return ring
}

func entry(id string, raw []byte, prefixes ...string) string {
	p, _ := json.Marshal(prefixes)
	return fmt.Sprintf(`{"id": %q, "key": %q, "prefixes": %s}`, id, b64(raw), p)
}

func TestKeyNeverPrintsMaterial(t *testing.T) {
	ring := loadRing(t, entry("a", rawA, "photos/"), fmt.Sprintf(`{"id": "b", "key": %q, "replica_key": "a"}`, b64(rawB)))
	k := ring.ByID("a")
	leaks := secrets(rawA, rawB)

	out := fmt.Sprintf("%v %+v %#v %s", k, k, k, k)
	assertNoSecret(t, "fmt", out, leaks)
	if want := "ssec-key(a) ssec-key(a) ssec-key(a) ssec-key(a)"; out != want {
		t.Errorf("fmt of a key = %q, want %q", out, want)
	}
	more := fmt.Sprintf("%q %x %X %d %T", k, k, k, k, k) + fmt.Sprint(k) + fmt.Sprintln(k) + k.String() + k.GoString()
	assertNoSecret(t, "fmt", more, leaks)

	// Keys inside other values print redacted too.
	inside := fmt.Sprintf("%v %+v %#v", []*planner.Key{k, ring.ByID("b")}, struct{ K *planner.Key }{k}, map[string]*planner.Key{"a": k})
	assertNoSecret(t, "fmt of values holding keys", inside, leaks)
	if !strings.Contains(inside, "ssec-key(b)") {
		t.Errorf("fmt of a slice of keys = %q, want the redacted form", inside)
	}
	assertNoSecret(t, "fmt of the ring", fmt.Sprintf("%v %+v %#v %v", ring, ring, ring, *ring), leaks)

	j, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "JSON", string(j), leaks)

	var buf bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		log := slog.New(h)
		log.Info("opened", "key", k, slog.Any("replica", ring.ByID("b")), "keys", ring.Candidates("photos/x"))
		log.With("key", k).WithGroup("g").Debug("with", "k", k, "ring", ring)
	}
	assertNoSecret(t, "slog", buf.String(), leaks)
	if !strings.Contains(buf.String(), "ssec-key(a)") {
		t.Errorf("slog output does not name the key by id:\n%s", buf.String())
	}
}

func TestCandidates(t *testing.T) {
	ring := loadRing(t,
		entry("a", material(1, 32), "photos/"),
		entry("b", material(2, 32)),
		entry("c", material(3, 32), "photos/2024/"),
		entry("d", material(4, 32), "docs/", "photos/"),
		entry("e", material(5, 32)),
		entry("f", material(6, 32), "photos/2024/", "p"),
	)
	tests := []struct {
		key  string
		want string
	}{
		// Longest matching prefix first; a and d tie at "photos/" and keep file order.
		{"photos/2024/x.jpg", "c f a d b e"},
		{"photos/2023/x.jpg", "a d f b c e"},
		{"docs/readme", "d a b c e f"},
		{"p", "f a b c d e"},
		{"other/x", "a b c d e f"},
		{"", "a b c d e f"},
		// A prefix is matched from the start of the key only.
		{"x/photos/2024/y", "a b c d e f"},
	}
	for _, tt := range tests {
		var ids []string
		for _, k := range ring.Candidates(tt.key) {
			ids = append(ids, k.ID)
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("Candidates(%q) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

func TestCandidatesKeepsFileOrderAmongEqualMatches(t *testing.T) {
	// Enough equal matches that a non-stable sort would be likely to
	// reorder them.
	var entries []string
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("k%02d", i)
		entries = append(entries, entry(id, material(byte(i), 32), "same/"))
		want = append(want, id)
	}
	entries = append(entries, entry("long", material(99, 32), "same/deeper/"))
	ring := loadRing(t, entries...)
	var got []string
	for _, k := range ring.Candidates("same/deeper/obj") {
		got = append(got, k.ID)
	}
	if w := "long " + strings.Join(want, " "); strings.Join(got, " ") != w {
		t.Errorf("Candidates = %v, want %s", got, w)
	}
}

func TestReplicaFor(t *testing.T) {
	ring := loadRing(t,
		fmt.Sprintf(`{"id": "old", "key": %q, "replica_key": "new"}`, b64(rawA)),
		entry("new", rawB),
		fmt.Sprintf(`{"id": "self", "key": %q, "replica_key": "self"}`, b64(rawC)),
	)
	for src, want := range map[string]string{"old": "new", "new": "new", "self": "self"} {
		if got := ring.ReplicaFor(ring.ByID(src)); got == nil || got.ID != want {
			t.Errorf("ReplicaFor(%s) = %v, want %s", src, got, want)
		}
	}
	if got := ring.ReplicaFor(ring.ByID("old")); got != ring.ByID("new") {
		t.Errorf("ReplicaFor(old) is not the ring's key %q", "new")
	}
	if got := ring.ReplicaFor(nil); got != nil {
		t.Errorf("ReplicaFor(nil) = %v, want nil", got)
	}
}

// TestReplicaKeyErrorDoesNotEchoMaterial: a key pasted into replica_key
// by mistake is not quoted back.
func TestReplicaKeyErrorDoesNotEchoMaterial(t *testing.T) {
	file := fmt.Sprintf(`{"keys": [{"id": "old", "key": %q, "replica_key": %q}]}`, b64(rawA), b64(rawB))
	_, err := planner.ParseKeyFile(strings.NewReader(file))
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), `entry 1 (id "old")`) {
		t.Errorf("error %q does not name the entry", err)
	}
	assertNoSecret(t, "error", err.Error(), secrets(rawA, rawB))
}

// TestKeyValueNeverPrintsMaterial: a copied Key redacts like a *Key.
func TestKeyValueNeverPrintsMaterial(t *testing.T) {
	ring := loadRing(t, entry("a", rawA))
	k := *ring.ByID("a")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "k", k)
	assertNoSecret(t, "fmt/slog of a Key value", fmt.Sprintf("%v %+v %#v %s", k, k, k, k)+buf.String(), secrets(rawA))
}

// holder holds keys every way a careless struct could.
type holder struct {
	Exported    planner.Key
	ExportedPtr *planner.Key
	hidden      planner.Key
	hiddenPtr   *planner.Key
	ring        *planner.KeyRing
	nested      struct{ k planner.Key }
	keys        []planner.Key
}

// TestKeyMaterialOutOfReflection: fmt and slog do not call methods on
// unexported fields, so a Key held there is printed by reflection: the
// material must not be where reflection can reach it. Every verb, every
// way of holding a key, the ring itself, and both slog handlers.
func TestKeyMaterialOutOfReflection(t *testing.T) {
	ring := loadRing(t, entry("a", rawA, "photos/"), entry("b", rawB))
	a, b := ring.ByID("a"), ring.ByID("b")
	h := holder{Exported: *a, ExportedPtr: b, hidden: *a, hiddenPtr: b, ring: ring, keys: []planner.Key{*a, *b}}
	h.nested.k = *b
	leaks := append(secrets(rawA, rawB), md5Of(rawA), md5Of(rawB))
	// The raw key as the 8-byte words a traceback or %x of memory shows.
	for _, raw := range [][]byte{rawA, rawB} {
		for i := 0; i+8 <= len(raw); i += 8 {
			var w uint64
			for j := 7; j >= 0; j-- {
				w = w<<8 | uint64(raw[i+j])
			}
			leaks = append(leaks, fmt.Sprintf("%x", w))
		}
	}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%e", "%U", "%c", "%t", "%p"} {
		for _, v := range []any{h, &h, ring, *ring, a, *a, []*planner.Key{a, b}, map[string]planner.Key{"a": *a}} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	var buf bytes.Buffer
	for _, handler := range []slog.Handler{
		slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		slog.New(handler).Info("holder", "h", h, "hp", &h, "ring", ring, "ringv", *ring, slog.Any("any", h))
	}
	out.WriteString(buf.String())
	out.WriteString(stackWith(*a, h))
	assertNoSecret(t, "output", out.String(), leaks)
	if !strings.Contains(out.String(), "ssec-keys(a, b)") {
		t.Errorf("the ring does not print as its ids:\n%.2000s", out.String())
	}
}

// stackWith is a frame holding keys by value, as a panic's traceback
// would print it.
//
//go:noinline
func stackWith(k planner.Key, h holder) string {
	_ = k.ID + h.Exported.ID
	return string(debugStack())
}

// debugStack is the goroutine's stack with its frames' argument words.
func debugStack() []byte { return debug.Stack() }

// TestScrub: every form of every key in a server's text is replaced by the
// key's id; other text is left alone.
func TestScrub(t *testing.T) {
	ring := loadRing(t, entry("a", rawA), entry("b", rawB))
	text := fmt.Sprintf("echo: key=%s md5=%s raw=%s url=%s nopad=%s md5nopad=%s other=%s",
		b64(rawA), md5Of(rawB), base64.RawStdEncoding.EncodeToString(rawB), base64.URLEncoding.EncodeToString(rawA),
		base64.RawURLEncoding.EncodeToString(rawB), strings.TrimRight(md5Of(rawA), "="), b64(rawC))
	got := ring.Scrub(text)
	assertNoSecret(t, "scrubbed text", got, append(secrets(rawA, rawB), md5Of(rawA), md5Of(rawB), strings.TrimRight(md5Of(rawA), "=")))
	if !strings.Contains(got, "key=[key a]") || !strings.Contains(got, "md5=[key b]") || !strings.Contains(got, "other="+b64(rawC)) {
		t.Errorf("Scrub = %q", got)
	}
	var none *planner.KeyRing
	if none.Scrub(text) != text {
		t.Error("a nil ring changed the text")
	}
}
