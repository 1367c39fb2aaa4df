package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/inventory/manifesttest"
	"github.com/s3backfill/s3backfill/planner"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// inventoryRows is a bucket's versions in no particular order, as an
// inventory may list them across its files.
func inventoryRows() []manifesttest.Row {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return []manifesttest.Row{
		{Key: "data/b.txt", VersionID: "b1", Size: 3, LastModified: at(1), ETag: "bb1", StorageClass: "STANDARD", EncryptionStatus: "SSE-S3", ChecksumAlgorithm: "CRC32"},
		{Key: "data/a b+c.txt", VersionID: "a2", IsLatest: true, Size: 6, LastModified: at(5), ETag: "aa2", StorageClass: "STANDARD_IA", EncryptionStatus: "NOT-SSE", ReplicationStatus: "COMPLETED"},
		{Key: "other/x", VersionID: "x1", IsLatest: true, Size: 1, LastModified: at(1), ETag: "xx", StorageClass: "STANDARD", EncryptionStatus: "NOT-SSE"},
		{Key: "data/b.txt", VersionID: "b3", IsLatest: true, DeleteMarker: true, LastModified: at(3)},
		{Key: "data/a b+c.txt", VersionID: "", Size: 5, LastModified: at(2), ETag: "aa1", StorageClass: "STANDARD", EncryptionStatus: "NOT-SSE"},
		{Key: "data/b.txt", VersionID: "b2", Size: 4, LastModified: at(2), ETag: "0123456789abcdef0123456789abcdef-3", StorageClass: "STANDARD", EncryptionStatus: "SSE-KMS", BucketKeyStatus: "ENABLED", ChecksumAlgorithm: "SHA256"},
		{Key: "data/ключ", VersionID: "k1", IsLatest: true, Size: 9, LastModified: at(1), ETag: "kk-2", StorageClass: "GLACIER", EncryptionStatus: "NOT-SSE"},
		{Key: "data/c", VersionID: "c1", IsLatest: true, Size: 9, LastModified: at(1), ETag: "cc", StorageClass: "STANDARD", EncryptionStatus: "SSE-C",
			LockMode: "GOVERNANCE", LockUntil: t0.Add(48 * time.Hour), LegalHold: true},
	}
}

// writeLocal writes an inventory report under dir and returns its
// manifest.json's path.
func writeLocal(t *testing.T, dir string, rows []manifesttest.Row, o manifesttest.Options) string {
	t.Helper()
	loc, err := manifesttest.WriteDir(rows, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func load(t *testing.T, loc string, opt LoadOptions) ([]planner.Version, error) {
	t.Helper()
	m, err := ReadManifest(context.Background(), Files{}, loc)
	if err != nil {
		return nil, err
	}
	if opt.Bucket == "" {
		opt.Bucket = "src"
	}
	opt.TempDir = t.TempDir()
	var out []planner.Version
	err = m.Versions(context.Background(), opt, func(v planner.Version) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// describeVersions prints versions one per line, for comparing with a want.
func describeVersions(vs []planner.Version) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s@%s rank=%d latest=%v dm=%v size=%d etag=%s class=%s", v.Key, v.VersionID, v.Rank, v.IsLatest, v.DeleteMarker, v.Size, v.ETag, v.StorageClass)
		if k := v.Known; k != nil {
			fmt.Fprintf(&b, " known=%s/%s bk=%v repl=%s", k.From, k.Encryption, k.BucketKey, k.ReplicationStatus)
			if k.Checksum.Algorithm != "" {
				fmt.Fprintf(&b, " checksum=%s/%s", k.Checksum.Algorithm, k.Checksum.Type)
			}
			if k.Lock.Locked() {
				fmt.Fprintf(&b, " lock=%s/%s/hold=%v", k.Lock.Mode, k.Lock.RetainUntil.Format(time.RFC3339), k.Lock.LegalHold)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

const wantInventory = `data/a b+c.txt@a2 rank=0 latest=true dm=false size=6 etag="aa2" class=STANDARD_IA known=manifest/NOT-SSE bk=false repl=COMPLETED
data/a b+c.txt@null rank=1 latest=false dm=false size=5 etag="aa1" class=STANDARD known=manifest/NOT-SSE bk=false repl=
data/b.txt@b3 rank=0 latest=true dm=true size=0 etag= class=
data/b.txt@b2 rank=1 latest=false dm=false size=4 etag="0123456789abcdef0123456789abcdef-3" class=STANDARD known=manifest/SSE-KMS bk=true repl= checksum=SHA256/COMPOSITE
data/b.txt@b1 rank=2 latest=false dm=false size=3 etag="bb1" class=STANDARD known=manifest/SSE-S3 bk=false repl= checksum=CRC32/FULL_OBJECT
data/c@c1 rank=0 latest=true dm=false size=9 etag="cc" class=STANDARD known=manifest/SSE-C bk=false repl= lock=GOVERNANCE/2026-01-04T03:04:05Z/hold=true
data/ключ@k1 rank=0 latest=true dm=false size=9 etag="kk-2" class=GLACIER
`

// TestManifestInventory: CSV and Parquet inventories, spread over files
// in no order, load as a listing would list them (by key, newest first),
// with the facts the plan may use instead of a HEAD; keys are decoded and
// the prefix filters. A sort that spills to disk gives the same.
func TestManifestInventory(t *testing.T) {
	for _, format := range []string{"CSV", "Parquet"} {
		for _, chunk := range []int{sortChunk, 2} {
			t.Run(fmt.Sprintf("%s/chunk=%d", format, chunk), func(t *testing.T) {
				defer func(c int) { sortChunk = c }(sortChunk)
				sortChunk = chunk
				loc := writeLocal(t, t.TempDir(), inventoryRows(), manifesttest.Options{Format: format, SourceBucket: "src",
					DestBucket: "inv", Prefix: "inv/src/all/", RowsPerFile: 3})
				got, err := load(t, loc, LoadOptions{Prefix: "data/"})
				if err != nil {
					t.Fatal(err)
				}
				if d := describeVersions(got); d != wantInventory {
					t.Errorf("got\n%s\nwant\n%s", d, wantInventory)
				}
			})
		}
	}
}

// TestManifestFactsNeeded: without the columns the plan needs, a version
// loads without facts (its plan HEADs it).
func TestManifestFactsNeeded(t *testing.T) {
	cols := []string{"Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag", "StorageClass", "EncryptionStatus"}
	loc := writeLocal(t, t.TempDir(), inventoryRows(), manifesttest.Options{Format: "CSV", SourceBucket: "src", DestBucket: "inv", Columns: cols})
	got, err := load(t, loc, LoadOptions{Prefix: "data/", NeedReplicationStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v.Known != nil {
			t.Errorf("%s@%s has facts, but the filters need the replication status the manifest lacks", v.Key, v.VersionID)
		}
	}
	got, err = load(t, loc, LoadOptions{Prefix: "data/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v.Known != nil && v.Known.Encryption == planner.SSEKMS {
			t.Errorf("%s@%s: SSE-KMS facts without a BucketKeyStatus column", v.Key, v.VersionID)
		}
	}
}

// TestManifestBad: each damaged manifest is refused with an error naming
// the file and what is wrong, before any version is given out.
func TestManifestBad(t *testing.T) {
	rows := inventoryRows()
	good := func(t *testing.T, format string) (dir, loc string) {
		dir = t.TempDir()
		return dir, writeLocal(t, dir, rows, manifesttest.Options{Format: format, SourceBucket: "src", DestBucket: "inv", Prefix: "inv/"})
	}
	editJSON := func(t *testing.T, loc string, edit func(m map[string]any)) {
		var m map[string]any
		b, _ := os.ReadFile(loc)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ = json.Marshal(m)
		os.WriteFile(loc, b, 0o644)
	}
	dataFile := func(dir string) string {
		m, _ := filepath.Glob(filepath.Join(dir, "inv", "data", "*"))
		return m[0]
	}
	// rewrite replaces the data file and fixes its MD5 in the manifest.
	rewrite := func(t *testing.T, dir, loc string, body []byte) {
		os.WriteFile(dataFile(dir), body, 0o644)
		editJSON(t, loc, func(m map[string]any) {
			f := m["files"].([]any)[0].(map[string]any)
			f["MD5checksum"] = fmt.Sprintf("%x", md5sum(body))
		})
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name   string
		format string
		break_ func(t *testing.T, dir, loc string)
		want   string
	}{
		{"md5 mismatch", "CSV", func(t *testing.T, dir, loc string) {
			b, _ := os.ReadFile(dataFile(dir))
			os.WriteFile(dataFile(dir), append(b, 0), 0o644)
		}, "does not match the manifest's MD5checksum"},
		{"data file missing", "CSV", func(t *testing.T, dir, loc string) { os.Remove(dataFile(dir)) }, "data file inv/data/00000000.csv.gz not found"},
		{"schema without Key", "CSV", func(t *testing.T, dir, loc string) {
			editJSON(t, loc, func(m map[string]any) { m["fileSchema"] = "Bucket, VersionId, Size" })
		}, "has no Key column"},
		{"another bucket", "CSV", func(t *testing.T, dir, loc string) {
			editJSON(t, loc, func(m map[string]any) { m["sourceBucket"] = "other" })
		}, "lists bucket other, not the job's source bucket src"},
		{"ORC", "CSV", func(t *testing.T, dir, loc string) {
			editJSON(t, loc, func(m map[string]any) { m["fileFormat"] = "ORC" })
		}, "ORC inventories are not supported: configure the inventory as CSV or Parquet"},
		{"truncated gzip", "CSV", func(t *testing.T, dir, loc string) {
			b, _ := os.ReadFile(dataFile(dir))
			rewrite(t, dir, loc, b[:len(b)-10])
		}, "data file inv/data/00000000.csv.gz line"},
		{"too few fields", "CSV", func(t *testing.T, dir, loc string) {
			rewrite(t, dir, loc, gz("\"src\",\"a\",\"v1\"\n"))
		}, "data file inv/data/00000000.csv.gz line 1: 3 fields; the manifest's fileSchema has 16"},
		{"undecodable key", "CSV", func(t *testing.T, dir, loc string) {
			b, _ := manifesttest.CSVFile("src", rows[:1], manifesttest.AllColumns)
			var raw bytes.Buffer
			r, _ := gzip.NewReader(bytes.NewReader(b))
			raw.ReadFrom(r)
			rewrite(t, dir, loc, gz(strings.Replace(raw.String(), "data%2Fb.txt", "data%zzb.txt", 1)))
		}, `line 1: key "data%zzb.txt" is not a URL-encoded key`},
		{"parquet wrong column type", "Parquet", func(t *testing.T, dir, loc string) {
			type bad struct {
				Bucket string `parquet:"bucket"`
				Key    string `parquet:"key"`
				Size   string `parquet:"size"`
			}
			b, err := manifesttest.WriteParquet([]bad{{"src", "a", "12"}})
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, dir, loc, b)
			editJSON(t, loc, func(m map[string]any) {
				m["fileSchema"] = "message s3.inventory { required binary bucket; required binary key; required binary size; }"
			})
		}, "column size is BYTE_ARRAY; S3 Inventory writes it as INT64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, loc := good(t, tc.format)
			tc.break_(t, dir, loc)
			got, err := load(t, loc, LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			var bad *BadManifest
			if !errors.As(err, &bad) {
				t.Errorf("%v is not a BadManifest (the user's to fix)", err)
			}
			if len(got) > 0 {
				t.Errorf("%d versions given out before the error", len(got))
			}
		})
	}
}

// fakeLister lists versions from a slice, as S3 does with a prefix and
// the "/" delimiter (entries under a deeper "/" are left out).
type fakeLister struct {
	vs    []types.ObjectVersion
	calls int
}

func (f *fakeLister) ListObjectVersions(_ context.Context, in *s3.ListObjectVersionsInput, _ ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	f.calls++
	out := &s3.ListObjectVersionsOutput{}
	prefix := aws.ToString(in.Prefix)
	for _, v := range f.vs {
		k := aws.ToString(v.Key)
		if strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") {
			out.Versions = append(out.Versions, v)
		}
	}
	return out, nil
}

// TestManifestBatchCSV: a Batch Operations CSV names versions in no
// order; each key's versions are ordered by a listing of the key, a line
// without a version id names the current one, and a version the bucket
// does not have is kept (its plan reports it).
func TestManifestBatchCSV(t *testing.T) {
	ver := func(key, id string, latest bool, size int64) types.ObjectVersion {
		return types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(id), IsLatest: aws.Bool(latest), Size: aws.Int64(size),
			ETag: aws.String(`"e` + id + `"`), LastModified: aws.Time(t0), StorageClass: types.ObjectVersionStorageClassStandard}
	}
	lister := &fakeLister{vs: []types.ObjectVersion{
		ver("a", "a3", true, 3), ver("a", "a2", false, 2), ver("a", "a1", false, 1),
		ver("a/b", "ab1", true, 1), ver("ab", "x1", true, 1),
	}}
	dir := t.TempDir()
	loc := filepath.Join(dir, "manifest.csv")
	os.WriteFile(loc, []byte("src,a,a1\nsrc,a%2Fb\nsrc,a,a3\nsrc,a,gone\nsrc,zz\n"), 0o644)
	var warned []string
	got, err := load(t, loc, LoadOptions{Lister: lister, Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	want := `a@a3 rank=0 latest=true dm=false size=3 etag="ea3" class=STANDARD
a@a1 rank=2 latest=false dm=false size=1 etag="ea1" class=STANDARD
a@gone rank=3 latest=false dm=false size=0 etag= class=
a/b@ab1 rank=0 latest=true dm=false size=1 etag="eab1" class=STANDARD
`
	if d := describeVersions(got); d != want {
		t.Errorf("got\n%s\nwant\n%s", d, want)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "2 lines name no version id") || !strings.Contains(warned[1], "1 keys it names have no current version") {
		t.Errorf("warnings %q", warned)
	}
	os.WriteFile(loc, []byte("other,a,a1\n"), 0o644)
	if _, err := load(t, loc, LoadOptions{Lister: lister}); err == nil || !strings.Contains(err.Error(), `manifest.csv line 1: bucket "other" is not the job's source bucket "src"`) {
		t.Errorf("another bucket: %v", err)
	}
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

// TestManifestCurrentVersionsOnly: a "Current version only" inventory
// (no VersionId column) is accepted with a warning; each key's current
// version, found by listing the key, is what it names.
func TestManifestCurrentVersionsOnly(t *testing.T) {
	ver := func(key, id string, latest bool) types.ObjectVersion {
		return types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(id), IsLatest: aws.Bool(latest), Size: aws.Int64(1),
			ETag: aws.String(`"e` + id + `"`), LastModified: aws.Time(t0), StorageClass: types.ObjectVersionStorageClassStandard}
	}
	lister := &fakeLister{vs: []types.ObjectVersion{ver("a", "a2", true), ver("a", "a1", false), ver("b", "b1", true)}}
	cols := []string{"Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass", "EncryptionStatus"}
	rows := []manifesttest.Row{{Key: "b", Size: 1, EncryptionStatus: "NOT-SSE"}, {Key: "a", Size: 1, EncryptionStatus: "SSE-S3"}}
	loc := writeLocal(t, t.TempDir(), rows, manifesttest.Options{Format: "CSV", SourceBucket: "src", DestBucket: "inv", Columns: cols})
	var warned []string
	got, err := load(t, loc, LoadOptions{Lister: lister, Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	want := `a@a2 rank=0 latest=true dm=false size=1 etag="ea2" class=STANDARD known=manifest/SSE-S3 bk=false repl=
b@b1 rank=0 latest=true dm=false size=1 etag="eb1" class=STANDARD known=manifest/NOT-SSE bk=false repl=
`
	if d := describeVersions(got); d != want {
		t.Errorf("got\n%s\nwant\n%s", d, want)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `"Current version only" inventory: only each key's current version is copied`) {
		t.Errorf("warnings %q", warned)
	}
}
