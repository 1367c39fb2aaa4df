package s3fake

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key is an SSE-C key as a test knows it, computed independently of the
// code under test: its raw bytes, header value and MD5 header value.
type Key struct {
	ID  string
	Raw [32]byte
	B64 string // the x-amz-...-customer-key header value
	MD5 string // the x-amz-...-customer-key-MD5 header value
}

// NewKey makes the test key named id (its bytes derive from the name).
func NewKey(id string) Key {
	k := Key{ID: id, Raw: sha256.Sum256([]byte("s3backfill test key " + id))}
	k.B64 = base64.StdEncoding.EncodeToString(k.Raw[:])
	sum := md5.Sum(k.Raw[:])
	k.MD5 = base64.StdEncoding.EncodeToString(sum[:])
	return k
}

// Header is what Put takes for a version encrypted with k (the fake then
// opens it only with k), with more headers as name, value pairs.
func (k Key) Header(kv ...string) map[string]string {
	h := map[string]string{"x-amz-server-side-encryption-customer-algorithm": "AES256",
		"x-amz-server-side-encryption-customer-key-MD5": k.MD5}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// Secrets are the forms of k's material that must never appear outside a
// request: base64 (padded or not, standard or URL-safe), raw, hex, and its
// MD5.
func (k Key) Secrets() []string {
	return []string{k.B64, strings.TrimRight(k.B64, "="), string(k.Raw[:]), fmt.Sprintf("%x", k.Raw[:]),
		base64.URLEncoding.EncodeToString(k.Raw[:]), base64.RawURLEncoding.EncodeToString(k.Raw[:]), k.MD5}
}

// KeyFile is the JSON of a key file holding keys, in order; replica maps
// an id to the id of its replica key.
func KeyFile(replica map[string]string, keys ...Key) string {
	var entries []string
	for _, k := range keys {
		e := fmt.Sprintf(`{"id": %q, "key": %q`, k.ID, k.B64)
		if r := replica[k.ID]; r != "" {
			e += fmt.Sprintf(`, "replica_key": %q`, r)
		}
		entries = append(entries, e+"}")
	}
	return `{"keys": [` + strings.Join(entries, ", ") + `]}`
}

// The buckets and clients most tests use: a source and a destination
// bucket, and a client for each, told apart by Request.Client.
const (
	SourceBucket = "src"
	DestBucket   = "dst"
	SourceClient = "src"
	DestClient   = "dst"
)
