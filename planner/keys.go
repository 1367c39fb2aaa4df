package planner

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Key is one SSE-C customer key from the key file. Its material never
// prints: String, GoString, Format and LogValue all redact it.
type Key struct {
	ID         string
	Prefixes   []string
	ReplicaKey string // id of the key that encrypts replicas; empty = this key

	material [32]byte
	md5      string
}

// Base64 is the value of the x-amz-...-customer-key header.
func (k *Key) Base64() string { return base64.StdEncoding.EncodeToString(k.material[:]) }

// MD5 is the value of the x-amz-...-customer-key-MD5 header:
// base64(MD5(raw key)). It identifies a key without revealing it.
func (k *Key) MD5() string { return k.md5 }

// The redacting methods have value receivers so that a copied Key redacts
// too.
func (k Key) String() string             { return fmt.Sprintf("ssec-key(%s)", k.ID) }
func (k Key) GoString() string           { return k.String() }
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }
func (k Key) LogValue() slog.Value       { return slog.StringValue(k.String()) }

// KeyRing is a validated key file.
type KeyRing struct {
	keys []*Key
	byID map[string]*Key
}

// keyFile is the JSON shape of the key file; entries are decoded one by
// one so that an error can name its entry.
type keyFile struct {
	Keys []json.RawMessage `json:"keys"`
}

type keyEntry struct {
	ID         string   `json:"id"`
	Key        string   `json:"key"`
	Prefixes   []string `json:"prefixes"`
	ReplicaKey string   `json:"replica_key"`
}

// ParseKeyFile validates every entry: unique non-empty ids, base64 of
// exactly 32 bytes, replica_key naming an entry of the file. Errors name
// the entry by id (or position) and never quote key material.
func ParseKeyFile(r io.Reader) (*KeyRing, error) {
	var kf keyFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("not valid JSON of the form {\"keys\": [{\"id\": ..., \"key\": ...}]}: %s", jsonErrorWithoutInput(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	if len(kf.Keys) == 0 {
		return nil, errors.New(`no keys: expected {"keys": [{"id": "...", "key": "<base64 of 32 bytes>"}]}`)
	}
	ring := &KeyRing{byID: make(map[string]*Key, len(kf.Keys))}
	for i, rawEntry := range kf.Keys {
		var e keyEntry
		_ = json.Unmarshal(rawEntry, &e) // leniently first, to name the entry in errors
		name := fmt.Sprintf("entry %d", i+1)
		if e.ID != "" {
			name = fmt.Sprintf("entry %d (id %q)", i+1, e.ID)
		}
		e = keyEntry{}
		edec := json.NewDecoder(bytes.NewReader(rawEntry))
		edec.DisallowUnknownFields()
		if err := edec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%s: %s (fields: id, key, prefixes, replica_key)", name, jsonErrorWithoutInput(err))
		}
		if strings.TrimSpace(e.ID) == "" {
			return nil, fmt.Errorf("%s: missing \"id\"", name)
		}
		if _, dup := ring.byID[e.ID]; dup {
			return nil, fmt.Errorf("%s: duplicate id; each key needs its own id", name)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Key))
		if err != nil {
			return nil, fmt.Errorf("%s: \"key\" is not valid standard base64", name)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("%s: \"key\" decodes to %d bytes; SSE-C (AES256) needs exactly 32", name, len(raw))
		}
		k := &Key{ID: e.ID, Prefixes: e.Prefixes, ReplicaKey: e.ReplicaKey}
		copy(k.material[:], raw)
		sum := md5.Sum(raw)
		k.md5 = base64.StdEncoding.EncodeToString(sum[:])
		clear(raw)
		ring.keys = append(ring.keys, k)
		ring.byID[k.ID] = k
	}
	for i, k := range ring.keys {
		if k.ReplicaKey != "" && ring.byID[k.ReplicaKey] == nil {
			// The value is not quoted: it could be a key pasted by mistake.
			return nil, fmt.Errorf("entry %d (id %q): replica_key names no entry of this file; it must be the id of another key, not a key", i+1, k.ID)
		}
	}
	return ring, nil
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
		return fmt.Sprintf("field %q has the wrong type (want %s) at byte %d", typ.Field, typ.Type, typ.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "the file is empty"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field") {
		return msg
	}
	return "cannot parse"
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

// Candidates lists the keys to try on an SSE-C version of objectKey: those
// with a prefix that matches first (longest prefix first), then the rest in
// file order.
func (r *KeyRing) Candidates(objectKey string) []*Key {
	if r == nil {
		return nil
	}
	type match struct {
		k   *Key
		len int
	}
	var matched []match
	var rest []*Key
	for _, k := range r.keys {
		best := -1
		for _, p := range k.Prefixes {
			if strings.HasPrefix(objectKey, p) && len(p) > best {
				best = len(p)
			}
		}
		if best >= 0 {
			matched = append(matched, match{k, best})
		} else {
			rest = append(rest, k)
		}
	}
	// Stable insertion sort: few keys, keep file order among equals.
	for i := 1; i < len(matched); i++ {
		for j := i; j > 0 && matched[j].len > matched[j-1].len; j-- {
			matched[j], matched[j-1] = matched[j-1], matched[j]
		}
	}
	out := make([]*Key, 0, len(r.keys))
	for _, m := range matched {
		out = append(out, m.k)
	}
	return append(out, rest...)
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
