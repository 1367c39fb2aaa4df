package s3fake

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// bucket is one bucket's configuration and objects.
type bucket struct {
	name        string
	versioning  string     // "" (never enabled), "Enabled" or "Suspended"
	encryption  string     // GetBucketEncryption's rules (XML); "" = none
	defaultEnc  encryption // what those rules apply to writes without SSE headers
	replication string     // GetBucketReplication's document; "" = none
	maxKeys     int        // most entries of a listing page; 0 = S3's 1000
	objects     map[string][]*version
}

// version is one object version or delete marker.
type version struct {
	id           string
	deleteMarker bool
	data         []byte
	etag         string // quoted
	modified     time.Time
	// header is echoed on HEAD and GET: content headers, user metadata,
	// encryption, storage class, checksums (only when asked for), ...
	header http.Header
	tags   map[string]string
	parts  []int64 // sizes of the parts of a multipart object
}

// BucketOption sets one thing of a bucket made by CreateBucket.
type BucketOption func(*bucket) error

// Versioning sets the versioning status GetBucketVersioning reports and
// writes follow: "Enabled", "Suspended", or "" (never enabled).
func Versioning(status string) BucketOption {
	return func(b *bucket) error { b.versioning = status; return nil }
}

// Encryption sets the bucket's default encryption: the <Rule> elements of
// its ServerSideEncryptionConfiguration, as GetBucketEncryption returns
// them. The first rule's ApplyServerSideEncryptionByDefault (and
// BucketKeyEnabled) applies to writes that ask for no encryption.
func Encryption(rules string) BucketOption {
	return func(b *bucket) error {
		var cfg struct {
			Rules []struct {
				Default *struct {
					SSEAlgorithm   string
					KMSMasterKeyID string
				} `xml:"ApplyServerSideEncryptionByDefault"`
				BucketKeyEnabled bool
			} `xml:"Rule"`
		}
		if err := xml.Unmarshal([]byte("<c>"+rules+"</c>"), &cfg); err != nil {
			return fmt.Errorf("encryption rules: %w", err)
		}
		b.encryption = rules
		for _, r := range cfg.Rules {
			if d := r.Default; d != nil {
				b.defaultEnc = encryption{sse: d.SSEAlgorithm, kmsKeyID: d.KMSMasterKeyID, bucketKey: r.BucketKeyEnabled}
				if b.defaultEnc.kms() && b.defaultEnc.kmsKeyID == "" {
					b.defaultEnc.kmsKeyID = awsManagedKey
				}
				break
			}
		}
		return nil
	}
}

// Replication sets the replication configuration GetBucketReplication
// returns: a whole <ReplicationConfiguration> document.
func Replication(config string) BucketOption {
	return func(b *bucket) error { b.replication = config; return nil }
}

// MaxKeys caps the entries of one ListObjectVersions page below S3's
// 1000, whatever the client asks for, so that small listings come in pages.
func MaxKeys(n int) BucketOption {
	return func(b *bucket) error { b.maxKeys = n; return nil }
}

// CreateBucket makes an empty bucket (replacing any of that name),
// versioned or never versioned, with options.
func (s *Server) CreateBucket(name string, versioned bool, opts ...BucketOption) {
	s.t.Helper()
	b := &bucket{name: name, objects: map[string][]*version{}}
	if versioned {
		b.versioning = "Enabled"
	}
	for _, o := range opts {
		if err := o(b); err != nil {
			s.t.Fatalf("s3fake: bucket %s: %v", name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[name] = b
}

// Object is one version as Put seeds it and Versions reports it.
type Object struct {
	// VersionID is the version's id; Put names it as the bucket's
	// versioning does when empty (an id of its own, or "null").
	VersionID string
	// Data is the content; when nil, Size bytes of Fill.
	Data []byte
	Size int64
	// Header holds response headers of the version, echoed on HEAD and
	// GET: x-amz-server-side-encryption (and the KMS key id, the bucket
	// key flag), the SSE-C algorithm and key MD5 (the version then opens
	// only with that key), x-amz-checksum-<alg> and x-amz-checksum-type
	// (only sent when asked for), x-amz-storage-class, x-amz-restore,
	// content headers, x-amz-meta-*. Empty values are left out.
	Header       map[string]string
	Tags         map[string]string
	DeleteMarker bool
	LastModified time.Time // now when zero
	// ETag overrides the computed one (quoted, as S3 sends it).
	ETag string
	// PartSizes makes it a multipart object of these parts (they add up
	// to the size): HEAD and GET with partNumber answer each part.
	PartSizes []int64
	IsLatest  bool // reported by Versions; Put ignores it
}

// Put adds a version as the newest of its key and returns its id. An
// existing version of the same id is replaced. The ETag is computed as S3
// does: the MD5 of the content for plaintext and SSE-S3 (of the parts'
// MD5s, "-N", for a multipart object), an opaque value for SSE-KMS,
// DSSE-KMS and SSE-C.
func (s *Server) Put(bucketName, key string, o Object) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		s.t.Fatalf("s3fake: Put %s/%s: no bucket %s", bucketName, key, bucketName)
		return ""
	}
	v := &version{id: o.VersionID, deleteMarker: o.DeleteMarker, etag: o.ETag, modified: o.LastModified.UTC(),
		header: http.Header{}, tags: maps.Clone(o.Tags), parts: slices.Clone(o.PartSizes)}
	if !o.DeleteMarker {
		v.data = slices.Clone(o.Data)
		if v.data == nil {
			v.data = Fill(o.Size)
		}
		for k, val := range o.Header {
			if val != "" {
				v.header.Set(k, val)
			}
		}
		if v.header.Get("Content-Type") == "" {
			v.header.Set("Content-Type", defaultContentType)
		}
		var sum int64
		for _, p := range v.parts {
			sum += p
		}
		if len(v.parts) > 0 && sum != int64(len(v.data)) {
			s.t.Fatalf("s3fake: Put %s/%s: parts add up to %d bytes, the content has %d", bucketName, key, sum, len(v.data))
		}
	}
	s.add(b, key, v)
	return v.id
}

// Versions returns the versions and delete markers of a key, newest
// first. Their Data is the server's: callers must not change it.
func (s *Server) Versions(bucketName, key string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	var out []Object
	for i, v := range b.objects[key] {
		o := Object{VersionID: v.id, Data: v.data, Size: int64(len(v.data)), Tags: maps.Clone(v.tags),
			DeleteMarker: v.deleteMarker, LastModified: v.modified, ETag: v.etag, PartSizes: slices.Clone(v.parts),
			IsLatest: i == 0, Header: map[string]string{}}
		for k := range v.header {
			o.Header[k] = v.header.Get(k)
		}
		out = append(out, o)
	}
	return out
}

// add stores v as the newest version of key: it names v as the bucket's
// versioning does when v has no id, drops any version of the same id (an
// unversioned write replaces the "null" version), and computes what is
// missing (time, ETag).
func (s *Server) add(b *bucket, key string, v *version) {
	if v.id == "" {
		v.id = "null"
		if b.versioning == "Enabled" {
			s.versionSeq++
			v.id = fmt.Sprintf("%s-v%d", b.name, s.versionSeq)
		}
	}
	if v.modified.IsZero() {
		v.modified = now()
	}
	if v.etag == "" && !v.deleteMarker {
		v.etag = etagOf(v.data, v.parts, encryptionOf(v.header).opaque(), v.id)
	}
	kept := []*version{v}
	for _, old := range b.objects[key] {
		if old.id != v.id {
			kept = append(kept, old)
		}
	}
	b.objects[key] = kept
}

// versionHeader sets x-amz-version-id, which a bucket that was never
// versioned does not send.
func (b *bucket) versionHeader(h http.Header, id string) {
	if b.versioning != "" {
		h.Set("x-amz-version-id", id)
	}
}

// find returns the version a request names (the current one without
// versionID), or S3's error: 404 NoSuchKey or NoSuchVersion, 404 for a
// current delete marker, 405 for a delete marker named by id.
func (b *bucket) find(key, versionID string) (*version, *Reply) {
	vs := b.objects[key]
	if versionID == "" {
		if len(vs) == 0 {
			return nil, Error(http.StatusNotFound, "NoSuchKey")
		}
		if vs[0].deleteMarker {
			rep := Error(http.StatusNotFound, "NoSuchKey")
			rep.Header.Set("x-amz-delete-marker", "true")
			b.versionHeader(rep.Header, vs[0].id)
			return nil, rep
		}
		return vs[0], nil
	}
	for _, v := range vs {
		if v.id != versionID {
			continue
		}
		if v.deleteMarker {
			rep := Error(http.StatusMethodNotAllowed, "MethodNotAllowed")
			rep.Header.Set("x-amz-delete-marker", "true")
			rep.Header.Set("Last-Modified", v.modified.Format(http.TimeFormat))
			b.versionHeader(rep.Header, v.id)
			return nil, rep
		}
		return v, nil
	}
	return nil, Error(http.StatusNotFound, "NoSuchVersion")
}

// InProgress is a multipart upload in progress, as Uploads reports it.
type InProgress struct {
	Key, UploadID string
	Initiated     time.Time
	Parts         []int32 // numbers of the parts uploaded so far, ascending
}

// Uploads returns the multipart uploads in progress in a bucket, by key
// then by age.
func (s *Server) Uploads(bucketName string) []InProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []InProgress
	for _, u := range s.sortedUploads(bucketName, "") {
		out = append(out, InProgress{Key: u.key, UploadID: u.id, Initiated: u.initiated, Parts: slices.Sorted(maps.Keys(u.parts))})
	}
	return out
}

// defaultContentType is what S3 gives an object stored without one.
const defaultContentType = "binary/octet-stream"

// Fill is the content of a version seeded by size only: n bytes of a fixed
// pseudo-random stream (Fill(m) starts with Fill(n) for m > n), so that a
// range read or copied from the wrong offset shows.
func Fill(n int64) []byte {
	var seed [32]byte
	copy(seed[:], "s3fake: the content of a version")
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// ETagOf is the ETag S3 gives plaintext or SSE-S3 content stored in one
// part: its MD5, quoted.
func ETagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// etagOf is a version's ETag: the MD5 of the content, or for a multipart
// object the MD5 of its parts' MD5s and "-N"; when opaque (SSE-KMS,
// DSSE-KMS, SSE-C) an MD5 of that and salt, in the same form.
func etagOf(data []byte, parts []int64, opaque bool, salt string) string {
	etag, suffix := ETagOf(data), `"`
	if len(parts) > 0 {
		var sums []byte
		off := int64(0)
		for _, p := range parts {
			sum := md5.Sum(data[off : off+p])
			sums = append(sums, sum[:]...)
			off += p
		}
		etag, suffix = ETagOf(sums), fmt.Sprintf(`-%d"`, len(parts))
	}
	if opaque {
		etag = ETagOf([]byte("s3fake opaque ETag " + salt + " " + etag))
	}
	return strings.TrimSuffix(etag, `"`) + suffix
}
