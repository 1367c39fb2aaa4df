package planner

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Key is one SSE-C customer key from the key file. Its material is held
// behind a closure, where neither fmt nor reflection (a %v of a struct
// holding a Key, a log line, a panic's traceback) can reach it; only
// Base64 and MD5 hand it out, for the request headers.
type Key struct {
	ID         string
	Prefixes   []string
	ReplicaKey string // id of the key that encrypts replicas; empty = this key

	secret func() keyHeaders
}

// keyHeaders are the header values of a key.
type keyHeaders struct{ b64, md5 string }

// Base64 is the value of the x-amz-...-customer-key header.
func (k *Key) Base64() string { return k.secret().b64 }

// MD5 is the value of the x-amz-...-customer-key-MD5 header:
// base64(MD5(raw key)). It identifies a key without revealing it, but it
// is kept out of output all the same.
func (k *Key) MD5() string { return k.secret().md5 }

// The redacting methods have value receivers so that a copied Key redacts
// too.
func (k Key) String() string             { return fmt.Sprintf("ssec-key(%s)", k.ID) }
func (k Key) GoString() string           { return k.String() }
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }
func (k Key) LogValue() slog.Value       { return slog.StringValue(k.String()) }

// newKey holds raw (32 bytes) behind a closure.
func newKey(id string, prefixes []string, replicaKey string, raw []byte) *Key {
	sum := md5.Sum(raw)
	h := keyHeaders{b64: base64.StdEncoding.EncodeToString(raw), md5: base64.StdEncoding.EncodeToString(sum[:])}
	return &Key{ID: id, Prefixes: prefixes, ReplicaKey: replicaKey, secret: func() keyHeaders { return h }}
}

// KeyRing is a validated key file.
type KeyRing struct {
	keys     []*Key
	byID     map[string]*Key
	byPrefix map[string][]*Key // the keys with each prefix, in file order
	// scrub replaces every form of every key's material; built with the
	// ring, behind a closure for the same reason as a Key's material.
	scrub func(string) string
}

// String, GoString, Format and LogValue name the keys by id only.
func (r *KeyRing) String() string {
	if r == nil {
		return "ssec-keys()"
	}
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.ID
	}
	return "ssec-keys(" + strings.Join(ids, ", ") + ")"
}
func (r *KeyRing) GoString() string           { return r.String() }
func (r *KeyRing) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }
func (r *KeyRing) LogValue() slog.Value       { return slog.StringValue(r.String()) }

// keyFields are the fields of a key file entry, spelt exactly so.
var keyFields = []string{"id", "key", "prefixes", "replica_key"}

// keyEntry is one entry of the key file.
type keyEntry struct {
	ID         string
	Key        string
	Prefixes   []string
	ReplicaKey string
}

// ParseKeyFile validates every entry: known fields spelt exactly, unique
// ids that are names and not keys, base64 of exactly 32 bytes, each key
// under one id only, replica_key naming an entry of the file. Errors name
// an entry by its position, and by its id only once the id is known to be
// a name: no error quotes what could be key material (a field name, a
// value, an id that holds a key).
func ParseKeyFile(r io.Reader) (*KeyRing, error) {
	dec := json.NewDecoder(r)
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not valid JSON of the form {\"keys\": [{\"id\": ..., \"key\": ...}]}: %s", jsonErrorWithoutInput(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	var entries []json.RawMessage
	for name, v := range top {
		if name != "keys" {
			return nil, errors.New(`the file has a field other than "keys" (field names are matched exactly)`)
		}
		if err := json.Unmarshal(v, &entries); err != nil {
			return nil, fmt.Errorf(`not valid JSON of the form {"keys": [{"id": ..., "key": ...}]}: %s`, jsonErrorWithoutInput(err))
		}
	}
	if len(entries) == 0 {
		return nil, errors.New(`no keys: expected {"keys": [{"id": "...", "key": "<base64 of 32 bytes>"}]}`)
	}
	parsed := make([]keyEntry, len(entries))
	raws := make([][]byte, len(entries))
	defer func() {
		for _, raw := range raws {
			clear(raw)
		}
	}()
	for i, rawEntry := range entries {
		e, err := parseEntry(rawEntry)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if raws[i], err = decodeKey(e.Key); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		parsed[i] = e
	}
	// The ids, checked against every key before any is printed.
	secrets := secretsOf(raws)
	for i, e := range parsed {
		if err := checkID(e.ID, secrets); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	ring := &KeyRing{byID: make(map[string]*Key, len(parsed)), byPrefix: map[string][]*Key{}}
	first := make(map[string]int, len(parsed)) // a key's material → its first entry
	for i, e := range parsed {
		if _, dup := ring.byID[e.ID]; dup {
			return nil, fmt.Errorf("entry %d (id %q): duplicate id; each key needs its own id", i+1, e.ID)
		}
		if j, dup := first[string(raws[i])]; dup {
			return nil, fmt.Errorf("entries %d (id %q) and %d (id %q) hold the same key; give each key one entry "+
				"(replica_key can point one entry at another)", j+1, parsed[j].ID, i+1, e.ID)
		}
		first[string(raws[i])] = i
		k := newKey(e.ID, e.Prefixes, e.ReplicaKey, raws[i])
		ring.keys = append(ring.keys, k)
		ring.byID[k.ID] = k
		for _, p := range uniq(e.Prefixes) {
			ring.byPrefix[p] = append(ring.byPrefix[p], k)
		}
	}
	clear(first)
	ring.scrub = newScrubber(ring.keys, raws)
	for i, k := range ring.keys {
		if k.ReplicaKey != "" && ring.byID[k.ReplicaKey] == nil {
			// The value is not quoted: it could be a key pasted by mistake.
			return nil, fmt.Errorf("entry %d (id %q): replica_key names no entry of this file; it must be the id of another key, not a key", i+1, k.ID)
		}
	}
	return ring, nil
}

// parseEntry reads one entry, field by field: a field must be one of
// keyFields, spelt exactly (Go's JSON matching ignores case, which would
// let "KEY" and "key" both set the key, the last one winning silently).
func parseEntry(raw json.RawMessage) (keyEntry, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return keyEntry{}, fmt.Errorf("not a JSON object of the form {\"id\": ..., \"key\": ...}: %s", jsonErrorWithoutInput(err))
	}
	var e keyEntry
	for name, v := range fields {
		var dst any
		switch name {
		case "id":
			dst = &e.ID
		case "key":
			dst = &e.Key
		case "prefixes":
			dst = &e.Prefixes
		case "replica_key":
			dst = &e.ReplicaKey
		default:
			// The name is not quoted: it could be key material.
			return keyEntry{}, fmt.Errorf("a field is not one of %s (field names are matched exactly, in lower case)",
				strings.Join(keyFields, ", "))
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return keyEntry{}, fmt.Errorf("field %q has the wrong type (%s)", name, jsonErrorWithoutInput(err))
		}
	}
	if strings.TrimSpace(e.ID) == "" {
		return keyEntry{}, errors.New(`missing "id"`)
	}
	return e, nil
}

// decodeKey reads the "key" field: standard base64 of exactly 32 bytes.
func decodeKey(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New(`"key" is not valid standard base64`)
	}
	if len(raw) != 32 {
		clear(raw)
		return nil, fmt.Errorf(`"key" decodes to %d bytes; SSE-C (AES256) needs exactly 32`, len(raw))
	}
	return raw, nil
}

// secrets are the base64 of every key of the file and of its MD5, as a set
// (of strings of two lengths, 44 and 24 characters).
type secrets map[string]bool

func secretsOf(raws [][]byte) secrets {
	s := make(secrets, 2*len(raws))
	for _, raw := range raws {
		sum := md5.Sum(raw)
		s[base64.StdEncoding.EncodeToString(raw)] = true
		s[base64.StdEncoding.EncodeToString(sum[:])] = true
	}
	return s
}

// in reports whether id holds one of the secrets: each window of id of a
// secret's length is looked up, so that a file of many keys checks in
// time linear in its size.
func (s secrets) in(id string) bool {
	for _, n := range []int{44, 24} {
		for i := 0; i+n <= len(id); i++ {
			if s[id[i:i+n]] {
				return true
			}
		}
	}
	return false
}

// checkID refuses an id that could be key material: base64 of 32 bytes (a
// key) or of 16 (a key's MD5), or the base64 or MD5 of any key of the
// file. An id is printed in errors, stored in the checkpoint and shown in
// the report's KeyId column.
func checkID(id string, keys secrets) error {
	trimmed := strings.TrimSpace(id)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(trimmed); err == nil && (len(b) == 32 || len(b) == 16) {
			return errors.New(`the "id" looks like a key or a key's MD5 (base64 of 32 or 16 bytes); an id is a name, such as "tenant-a-2024"`)
		}
	}
	if keys.in(id) {
		return errors.New(`the "id" holds a key of the file (or its MD5); an id is a name, such as "tenant-a-2024"`)
	}
	return nil
}

// uniq is ps without repeats, in order.
func uniq(ps []string) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// newScrubber makes the function that replaces every form of every key's
// material in a text (its base64, padded or not, standard or URL-safe, and
// its MD5) with the key's id, in one pass whatever the number of keys.
func newScrubber(keys []*Key, raws [][]byte) func(string) string {
	pairs := make([]string, 0, 12*len(keys))
	for i, k := range keys {
		h := k.secret()
		for _, f := range []string{h.b64, h.md5, strings.TrimRight(h.b64, "="), strings.TrimRight(h.md5, "="),
			base64.URLEncoding.EncodeToString(raws[i]), base64.RawURLEncoding.EncodeToString(raws[i])} {
			pairs = append(pairs, f, "[key "+k.ID+"]")
		}
	}
	r := strings.NewReplacer(pairs...)
	r.Replace("") // it builds its tables on first use: now, not in the first message
	return r.Replace
}

// jsonErrorWithoutInput keeps the position of a JSON error but drops any
// quoted input, which could be key material.
func jsonErrorWithoutInput(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("wrong type (want %s) at byte %d", typ.Type, typ.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "the file is empty"
	}
	return "cannot parse"
}

// Scrub replaces every form of every key's material in s — its base64
// (padded or not, standard or URL-safe) and its MD5 — with the key's id.
// It is for text that comes from elsewhere (a server's error message)
// before it is stored, logged or reported: a buggy or hostile server may
// echo a request's headers.
func (r *KeyRing) Scrub(s string) string {
	if r == nil || s == "" || r.scrub == nil {
		return s
	}
	return r.scrub(s)
}

// Len is the number of keys.
func (r *KeyRing) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// ByID returns the key with that id, or nil.
func (r *KeyRing) ByID(id string) *Key {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// Candidates lists the keys to try on an SSE-C version of objectKey, in
// Order without anything learned: those with a prefix that matches first
// (longest prefix first), then the rest in file order.
func (r *KeyRing) Candidates(objectKey string) []*Key {
	return slices.Collect(r.Order(objectKey, nil))
}

// ReplicaFor returns the key that encrypts the replica of a version opened
// with src: src's replica_key when set, else src itself.
func (r *KeyRing) ReplicaFor(src *Key) *Key {
	if src == nil {
		return nil
	}
	if src.ReplicaKey != "" {
		if k := r.ByID(src.ReplicaKey); k != nil {
			return k
		}
	}
	return src
}
