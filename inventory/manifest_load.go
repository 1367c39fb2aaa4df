package inventory

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/s3backfill/s3backfill/planner"
)

// LoadOptions say how a manifest becomes the job's versions.
type LoadOptions struct {
	Bucket string // the job's source bucket: the manifest must list it
	Prefix string // only keys under it
	// Lister lists a key's versions where the manifest does not say
	// enough to order them (a Batch Operations CSV, a current-version
	// inventory, an inventory without size, time, ETag or storage class).
	Lister VersionLister
	// TempDir holds the data files and the sort's spill files while the
	// manifest loads ("" = the system's).
	TempDir string
	// NeedReplicationStatus: the selection filters read replication
	// statuses, so a manifest's facts are enough to plan on only with them.
	NeedReplicationStatus bool
	// Warn tells the user something about the manifest.
	Warn func(string)
}

// Versions calls fn for every version the manifest names under
// opt.Prefix, in listing order (by key, newest first within a key) with
// ranks, each with what the manifest says of it (Version.Known) where
// that is enough to plan on without a HEAD. The whole manifest is read and
// checked before fn is first called: a damaged manifest records nothing.
// Versions of a key are ordered by the manifest's IsLatest and
// LastModifiedDate; where the manifest cannot order them, by a listing of
// the key.
func (m *Manifest) Versions(ctx context.Context, opt LoadOptions, fn func(planner.Version) error) error {
	if m.Bucket != "" && m.Bucket != opt.Bucket {
		return badf("manifest %s lists bucket %s, not the job's source bucket %s", m.Location, m.Bucket, opt.Bucket)
	}
	if opt.Warn == nil {
		opt.Warn = func(string) {}
	}
	if !m.AllVersions() {
		opt.Warn(fmt.Sprintf("manifest %s is a \"Current version only\" inventory: only each key's current version is copied", m.Location))
	}
	dir, err := os.MkdirTemp(opt.TempDir, "s3backfill-manifest-*")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer os.RemoveAll(dir)
	s := &sorter{dir: dir, limit: sortChunk, less: newestFirst}
	var currentOnly int64
	err = m.each(ctx, opt.Bucket, dir, func(r record) error {
		if !strings.HasPrefix(r.Key, opt.Prefix) {
			return nil
		}
		if r.VersionID == "" {
			currentOnly++
		}
		return s.add(r)
	})
	if err != nil {
		return err
	}
	if currentOnly > 0 && m.Format == FormatBatchCSV {
		opt.Warn(fmt.Sprintf("manifest %s: %d lines name no version id: their keys' current versions are copied", m.Location, currentOnly))
	}
	l := loader{m: m, opt: opt, fn: fn, ordered: m.ordersVersions()}
	var group []record
	err = s.each(func(r record) error {
		if len(group) > 0 && group[0].Key != r.Key {
			if err := l.key(ctx, group); err != nil {
				return err
			}
			group = group[:0]
		}
		group = append(group, r)
		return nil
	})
	if err == nil && len(group) > 0 {
		err = l.key(ctx, group)
	}
	if err == nil && l.missing > 0 {
		opt.Warn(fmt.Sprintf("manifest %s: %d keys it names have no current version in the bucket (deleted since); they are left out", m.Location, l.missing))
	}
	return err
}

// ordersVersions: the manifest says all a listing would (every version,
// with its time, size, ETag and storage class), so it orders a key's
// versions itself.
func (m *Manifest) ordersVersions() bool {
	if m.Format == FormatBatchCSV {
		return false
	}
	for _, f := range []field{fVersionID, fIsLatest, fIsDeleteMarker, fSize, fLastModified, fETag, fStorageClass} {
		if !m.schema.has(f) {
			return false
		}
	}
	return true
}

// newestFirst orders records by key, then newest first: the latest, then
// by time, then as the manifest has them.
func newestFirst(a, b *record) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if a.IsLatest != b.IsLatest {
		if a.IsLatest {
			return -1
		}
		return 1
	}
	if c := b.LastModified.Compare(a.LastModified); c != 0 {
		return c
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// loader turns the sorted records, a key at a time, into versions.
type loader struct {
	m       *Manifest
	opt     LoadOptions
	fn      func(planner.Version) error
	ordered bool
	missing int64 // keys with no current version to copy
}

// key emits the versions of one key (its records, newest first).
func (l *loader) key(ctx context.Context, group []record) error {
	if l.ordered {
		for i, r := range group {
			v := l.version(r)
			v.Rank = i
			if err := l.fn(v); err != nil {
				return err
			}
		}
		return nil
	}
	vs, err := l.resolve(ctx, group)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := l.fn(v); err != nil {
			return err
		}
	}
	return nil
}

// version is a record as the scan records it.
func (l *loader) version(r record) planner.Version {
	v := planner.Version{Key: r.Key, VersionID: r.VersionID, IsLatest: r.IsLatest, DeleteMarker: r.DeleteMarker,
		Size: r.Size, ETag: quoteETag(r.ETag), LastModified: r.LastModified, StorageClass: r.StorageClass}
	v.Known = l.facts(r)
	return v
}

// resolve lists the key's versions and keeps those the records name (a
// record without a version id names the current one), in the listing's
// order. A named version the bucket does not have is kept after them:
// its plan reports it missing, as S3 Batch Operations does.
func (l *loader) resolve(ctx context.Context, group []record) ([]planner.Version, error) {
	key := group[0].Key
	listed, err := listKey(ctx, l.opt.Lister, l.opt.Bucket, key)
	if err != nil {
		return nil, err
	}
	named := map[string]*record{}
	var current *record // a record naming the key's current version
	for i := range group {
		if group[i].VersionID == "" {
			current = &group[i]
		} else if _, dup := named[group[i].VersionID]; !dup {
			named[group[i].VersionID] = &group[i]
		}
	}
	var out []planner.Version
	foundCurrent := false
	for _, v := range listed {
		r, ok := named[v.VersionID]
		switch {
		case ok:
			delete(named, v.VersionID)
		case current != nil && v.IsLatest:
			r = current // what the manifest says of the current version
		default:
			continue
		}
		v.Known = l.facts(*r)
		foundCurrent = foundCurrent || v.IsLatest
		out = append(out, v)
	}
	if current != nil && !foundCurrent {
		l.missing++
	}
	rest := make([]*record, 0, len(named))
	for _, r := range named {
		rest = append(rest, r)
	}
	slices.SortFunc(rest, func(a, b *record) int { return int(a.Seq - b.Seq) })
	for i, r := range rest {
		out = append(out, planner.Version{Key: key, VersionID: r.VersionID, Rank: len(listed) + i})
	}
	return out, nil
}

// listKey lists the versions of one key, newest first.
func listKey(ctx context.Context, c VersionLister, bucket, key string) ([]planner.Version, error) {
	if c == nil {
		return nil, fmt.Errorf("manifest: no source client to list %s with", key)
	}
	// The delimiter folds the keys under key+"/" into one prefix; keys
	// that merely start with key come after it and end the listing.
	p := newPager(c, bucket, key, "", true)
	var out []planner.Version
	for p.More() {
		page, err := p.Next(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range page {
			if v.Key > key {
				return out, nil
			}
			if v.Key == key {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// facts is what the manifest says of a version, when it is enough to plan
// on without a HEAD; else nil. It is not enough without the encryption,
// for an SSE-KMS version without its Bucket Key status, for a version in
// an archive tier (whether it is restored needs a HEAD), or without the
// replication status when the filters read it. An SSE-C version's facts
// are kept: its plan still HEADs it to find its key.
func (l *loader) facts(r record) *planner.Inspection {
	c := l.m.schema
	if r.DeleteMarker || !c.has(fEncryptionStatus) || (l.opt.NeedReplicationStatus && !c.has(fReplicationStatus)) {
		return nil
	}
	enc, ok := planner.ParseEncryption(r.Encryption)
	if !ok {
		return nil
	}
	ins := &planner.Inspection{Inspected: true, From: planner.FactsManifest, Encryption: enc, ReplicationStatus: r.Replication,
		Lock: planner.ObjectLock{Mode: strings.ToUpper(r.LockMode), RetainUntil: r.LockUntil, LegalHold: r.LegalHold}}
	if enc == planner.SSEKMS {
		if !c.has(fBucketKeyStatus) {
			return nil
		}
		ins.BucketKey = strings.EqualFold(r.BucketKey, "ENABLED")
	}
	if alg := strings.ToUpper(r.Checksum); slices.Contains(checksumAlgorithms, alg) {
		// Only the algorithm: the copy asks for it, so that the replica
		// keeps it; its value, which the inventory does not give, is not
		// compared. A checksum of parts depends on the part layout: not
		// asked for.
		ins.Checksum = planner.Checksum{Algorithm: alg, Type: "FULL_OBJECT"}
		if planner.MultipartParts(r.ETag) > 1 {
			ins.Checksum.Type = "COMPOSITE"
		}
	}
	switch r.StorageClass {
	case "GLACIER", "DEEP_ARCHIVE":
		return nil
	case "INTELLIGENT_TIERING":
		if !c.has(fTier) || strings.Contains(r.Tier, "ARCHIVE") {
			return nil
		}
	}
	return ins
}

// checksumAlgorithms are the values of an inventory's ChecksumAlgorithm.
var checksumAlgorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// quoteETag gives an inventory's ETag the quotes a listing's has.
func quoteETag(e string) string {
	if e == "" || strings.HasPrefix(e, `"`) {
		return e
	}
	return `"` + e + `"`
}
