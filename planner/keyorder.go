package planner

import (
	"iter"
	"strings"
	"sync"
)

// The order in which SSE-C keys are tried on a version. First the keys
// whose prefixes match the object key (the longest prefix first), then
// the keys learned to open versions near it — of the same object key,
// then of the same folder, each "/" level from the deepest, up to the
// whole job — and then the rest, in the key file's order. A version no
// key opens costs one pass over the keys: each is tried once.

// Order yields the keys to try on an SSE-C version of objectKey, each once,
// lazily: a caller that stops at the key that opens the version pays for
// no more. learned may be nil.
//
// Versions of a folder no key is known to open yet take turns: the first
// tries the keys, the others wait for the key it finds (many versions of
// a new folder would otherwise each walk the whole key file side by side
// before any of them learns).
func (r *KeyRing) Order(objectKey string, learned *KeyLearning) iter.Seq[*Key] {
	return func(yield func(*Key) bool) {
		if r == nil {
			return
		}
		defer learned.searching(Folder(objectKey))()
		var seen map[*Key]bool
		emit := func(k *Key) bool {
			if k == nil || seen[k] {
				return true
			}
			if seen == nil {
				seen = make(map[*Key]bool)
			}
			seen[k] = true
			return yield(k)
		}
		if len(r.byPrefix) > 0 {
			for i := len(objectKey); i >= 0; i-- {
				for _, k := range r.byPrefix[objectKey[:i]] {
					if !emit(k) {
						return
					}
				}
			}
		}
		for _, id := range learned.ranked(objectKey) {
			if !emit(r.byID[id]) {
				return
			}
		}
		for _, k := range r.keys {
			if !emit(k) {
				return
			}
		}
	}
}

// FolderKey is what was learned of one key in one folder: how many
// versions under the folder ("" is the whole source) it opened. It holds
// the key's id, never its material.
type FolderKey struct {
	Folder   string
	KeyID    string
	Versions int64
}

// KeyLearning is what a job has learned of which keys open which
// versions. A checkpoint keeps it (by folder), so that a rerun, a later
// run and other workers start from it. Safe for concurrent use; a nil
// KeyLearning has learned nothing.
type KeyLearning struct {
	mu      sync.Mutex
	folders map[string][]learnedKey // folder → its keys, most versions first
	search  map[string]*folderTurn  // folders whose key is being searched for
	recent  map[string]string       // object key → the key that last opened one of its versions
	delta   map[[2]string]int64     // (folder, key id) → versions learned since Drain
	clock   int64
}

// learnedKey is one key's record in one folder.
type learnedKey struct {
	id       string
	versions int64
	last     int64 // when it last opened a version there: the most recent wins a tie
}

// recentKeys bounds the object keys remembered: the versions of one key are
// planned together, so a short memory serves.
const recentKeys = 4096

// NewKeyLearning is a KeyLearning that knows what the checkpoint kept.
func NewKeyLearning(known []FolderKey) *KeyLearning {
	l := &KeyLearning{folders: map[string][]learnedKey{}, recent: map[string]string{}, delta: map[[2]string]int64{},
		search: map[string]*folderTurn{}}
	for _, fk := range known {
		l.add(fk.Folder, fk.KeyID, fk.Versions)
	}
	return l
}

// Folders are the folders of an object key, the deepest first, ending
// with "" (the whole source): "a/b/c" is in "a/b/", "a/" and "".
func Folders(objectKey string) []string {
	var out []string
	for i := len(objectKey) - 1; i >= 0; i-- {
		if objectKey[i] == '/' && i < len(objectKey)-1 {
			out = append(out, objectKey[:i+1])
		}
	}
	return append(out, "")
}

// Saw records that key keyID opened a version of objectKey.
func (l *KeyLearning) Saw(objectKey, keyID string) {
	if l == nil || keyID == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) >= recentKeys {
		clear(l.recent)
	}
	l.recent[objectKey] = keyID
	for _, f := range Folders(objectKey) {
		l.add(f, keyID, 1)
		l.delta[[2]string{f, keyID}]++
	}
}

// add counts n versions opened by a key in a folder, keeping the folder's
// keys in order: most versions first, then the most recent.
func (l *KeyLearning) add(folder, keyID string, n int64) {
	l.clock++
	ks := l.folders[folder]
	i := 0
	for i < len(ks) && ks[i].id != keyID {
		i++
	}
	if i == len(ks) {
		ks = append(ks, learnedKey{id: keyID})
	}
	ks[i].versions += n
	ks[i].last = l.clock
	for ; i > 0 && ks[i].versions >= ks[i-1].versions; i-- { // the most recent first among equals
		ks[i], ks[i-1] = ks[i-1], ks[i]
	}
	l.folders[folder] = ks
}

// ranked are the key ids learned near objectKey, in the order to try them:
// the key that last opened a version of it, then each folder's keys, the
// deepest folder first.
func (l *KeyLearning) ranked(objectKey string) []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	if id, ok := l.recent[objectKey]; ok {
		out = append(out, id)
	}
	for _, f := range Folders(objectKey) {
		for _, k := range l.folders[f] {
			out = append(out, k.id)
		}
	}
	return out
}

// folderTurn is the turn to search a folder's key: held by one version,
// waited for by others.
type folderTurn struct {
	sync.Mutex
	waiting int
}

// searching waits for the turn to search for the key of folder, when no
// key is known to open a version there yet, and returns its release; it
// returns at once (with a release that does nothing) when one is known.
func (l *KeyLearning) searching(folder string) (release func()) {
	if l == nil {
		return func() {}
	}
	l.mu.Lock()
	if len(l.folders[folder]) > 0 {
		l.mu.Unlock()
		return func() {}
	}
	turn := l.search[folder]
	if turn == nil {
		turn = &folderTurn{}
		l.search[folder] = turn
	}
	turn.waiting++
	l.mu.Unlock()
	turn.Lock()
	return func() {
		turn.Unlock()
		l.mu.Lock()
		if turn.waiting--; turn.waiting == 0 {
			delete(l.search, folder)
		}
		l.mu.Unlock()
	}
}

// Drain returns what was learned since the last Drain, for the checkpoint.
func (l *KeyLearning) Drain() []FolderKey {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]FolderKey, 0, len(l.delta))
	for fk, n := range l.delta {
		out = append(out, FolderKey{Folder: fk[0], KeyID: fk[1], Versions: n})
	}
	clear(l.delta)
	return out
}

// Known is everything learned, for status: by folder, each folder's keys
// most versions first.
func (l *KeyLearning) Known() []FolderKey {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []FolderKey
	for f, ks := range l.folders {
		for _, k := range ks {
			out = append(out, FolderKey{Folder: f, KeyID: k.id, Versions: k.versions})
		}
	}
	return out
}

// Folder is the deepest folder of objectKey ("" at the root).
func Folder(objectKey string) string {
	if i := strings.LastIndexByte(objectKey, '/'); i >= 0 {
		return objectKey[:i+1]
	}
	return ""
}
