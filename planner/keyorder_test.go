package planner

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// orderRing is a key file of six keys, k1 to k6 in file order; k5 matches
// "legal/" by prefix, k6 "legal/2024/".
func orderRing(t *testing.T) *KeyRing {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"keys": [`)
	for i := 1; i <= 6; i++ {
		raw := make([]byte, 32)
		for j := range raw {
			raw[j] = byte(i*40 + j)
		}
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "k%d", "key": %q`, i, base64.StdEncoding.EncodeToString(raw))
		switch i {
		case 5:
			b.WriteString(`, "prefixes": ["legal/"]`)
		case 6:
			b.WriteString(`, "prefixes": ["legal/2024/", "legal/"]`)
		}
		b.WriteString("}")
	}
	b.WriteString("]}")
	ring, err := ParseKeyFile(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// TestKeyOrderGolden: what is tried first, step by step, as versions are
// opened: prefix matches, the object key's own key, each folder level
// from the deepest, the job's counts, then the file order; ties go to the
// most recent; a folder whose key changed halfway (rotation over time)
// follows the new key once it has opened as many.
func TestKeyOrderGolden(t *testing.T) {
	ring := orderRing(t)
	l := NewKeyLearning([]FolderKey{{Folder: "", KeyID: "k4", Versions: 2}, {Folder: "old/", KeyID: "k4", Versions: 2}})
	var out strings.Builder
	show := func(objectKey string) {
		var ids []string
		for k := range ring.Order(objectKey, l) {
			ids = append(ids, k.ID)
		}
		fmt.Fprintf(&out, "%-26s %s\n", objectKey, strings.Join(ids, " "))
	}
	saw := func(objectKey, id string) {
		l.Saw(objectKey, id)
		fmt.Fprintf(&out, "-- %s opened %s\n", id, objectKey)
	}
	fmt.Fprintln(&out, "# from the checkpoint: k4 opened 2 versions under old/")
	show("a/x")
	show("old/y")
	show("legal/2024/contract")
	show("legal/memo")
	saw("t1/a/x", "k2")
	show("t1/a/x")
	show("t1/a/z")
	show("t1/b/z")
	show("t2/q")
	saw("t1/b/z", "k3")
	show("t1/b/w")
	show("t1/c")
	saw("t1/c", "k3")
	show("t1/d")
	fmt.Fprintln(&out, "# rotation: rot/ opened by k1, then by k2")
	for i := range 3 {
		saw(fmt.Sprintf("rot/%d", i), "k1")
	}
	for i := 3; i < 6; i++ {
		show(fmt.Sprintf("rot/%d", i))
		saw(fmt.Sprintf("rot/%d", i), "k2")
	}
	show("rot/9")
	show("legal/2024/x")
	golden(t, "keyorder.golden", out.String())
}

// golden compares got with testdata/name (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestKeyLearningDrain: what Saw learned comes out of Drain once, by
// folder, for the checkpoint; and a learning loaded from it orders as the
// one that learned.
func TestKeyLearningDrain(t *testing.T) {
	l := NewKeyLearning(nil)
	l.Saw("a/b/c", "k1")
	l.Saw("a/b/d", "k1")
	l.Saw("a/e", "k2")
	got := map[string]int64{}
	for _, fk := range l.Drain() {
		got[fk.Folder+"|"+fk.KeyID] = fk.Versions
	}
	want := map[string]int64{"a/b/|k1": 2, "a/|k1": 2, "|k1": 2, "a/|k2": 1, "|k2": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Drain = %v, want %v", got, want)
	}
	if d := l.Drain(); len(d) != 0 {
		t.Errorf("a second Drain = %v, want nothing", d)
	}
	ring := orderRing(t)
	again := NewKeyLearning(l.Known())
	var a, b []string
	for k := range ring.Order("a/b/x", l) {
		a = append(a, k.ID)
	}
	for k := range ring.Order("a/b/x", again) {
		b = append(b, k.ID)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("loaded from the checkpoint: %v, want %v", b, a)
	}
}

// TestKeyFileOf10000Keys: a key file of 10,000 keys loads and validates in
// well under a second (the ids are checked against every key's material
// in linear time), and a version's first candidate costs no pass over
// the keys. Not a timing assertion: the limits are two orders of
// magnitude above what this takes, to catch a return to quadratic work.
func TestKeyFileOf10000Keys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"keys": [`)
	for i := range 10000 {
		raw := make([]byte, 32)
		rand.Read(raw)
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "tenant-%05d", "key": %q, "prefixes": ["tenant-%05d/"]}`, i, base64.StdEncoding.EncodeToString(raw), i)
	}
	b.WriteString("]}")
	t0 := time.Now()
	ring, err := ParseKeyFile(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("10,000 keys took %v to load", d)
	}
	for k := range ring.Order("tenant-04321/a/b", nil) {
		if k.ID != "tenant-04321" {
			t.Errorf("first candidate %s, want the prefix match tenant-04321", k.ID)
		}
		break
	}
}

// TestKeyOrderTakesTurns: versions of a folder no key is known to open
// take turns: a second one waits while the first tries keys, then starts
// with the key the first found. Once the folder's key is known, nobody
// waits.
func TestKeyOrderTakesTurns(t *testing.T) {
	ring := orderRing(t)
	l := NewKeyLearning(nil)
	started := make(chan struct{})
	firstOfSecond := make(chan string, 1)
	next, stop := iter.Pull(ring.Order("t/a", l))
	if k, _ := next(); k.ID != "k1" { // the first version's search has begun
		t.Fatalf("first key %s, want k1", k.ID)
	}
	go func() {
		close(started)
		for k := range ring.Order("t/b", l) {
			firstOfSecond <- k.ID
			return
		}
	}()
	<-started
	select {
	case id := <-firstOfSecond:
		t.Fatalf("a second version of the folder tried %s while the first searched", id)
	case <-time.After(50 * time.Millisecond):
	}
	next() // k2, say, then k3 opens it
	l.Saw("t/a", "k3")
	stop()
	if id := <-firstOfSecond; id != "k3" {
		t.Errorf("the second version tried %s first, want k3 (what the first found)", id)
	}
	done := make(chan struct{})
	go func() {
		next, stop := iter.Pull(ring.Order("t/c", l))
		next()
		for range ring.Order("t/d", l) { // does not wait: the folder's key is known
			break
		}
		stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("versions of a folder whose key is known wait for each other")
	}
}
