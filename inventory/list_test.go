package inventory

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// entry is one version or delete marker of a listing.
type entry struct {
	dm        bool
	key, vid  string
	modified  string
	size      int64
	etag      string
	storClass string
}

// listingFake is a fake whose bucket "b" holds entries, given as S3 lists
// them (each key's newest first), and answers ListObjectVersions in pages
// of at most pageSize entries.
func listingFake(t *testing.T, pageSize int, entries ...entry) *s3.Client {
	t.Helper()
	f := s3fake.New(t)
	f.CreateBucket("b", true, s3fake.MaxKeys(pageSize))
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		modified, err := time.Parse(time.RFC3339, e.modified)
		if err != nil {
			t.Fatal(err)
		}
		o := s3fake.Object{VersionID: e.vid, DeleteMarker: e.dm, LastModified: modified, Size: e.size,
			Header: map[string]string{"x-amz-storage-class": e.storClass}}
		if e.etag != "" {
			o.ETag = `"` + e.etag + `"`
		}
		f.Put("b", e.key, o)
	}
	return f.Client("lister")
}

func listAll(t *testing.T, c *s3.Client) []planner.Version {
	t.Helper()
	var out []planner.Version
	if err := List(context.Background(), c, "b", "", func(v planner.Version) error {
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(vs []planner.Version) string {
	var parts []string
	for _, v := range vs {
		kind := "v"
		if v.DeleteMarker {
			kind = "dm"
		}
		parts = append(parts, fmt.Sprintf("%s@%s/%s#%d", v.Key, v.VersionID, kind, v.Rank))
	}
	return strings.Join(parts, " ")
}

// TestListKeepsServerOrder: a delete marker and a version with the same
// LastModified come out in the order the server stored them, which only
// the response body tells (the SDK splits the two kinds).
func TestListKeepsServerOrder(t *testing.T) {
	const tie = "2026-01-01T00:00:00.123Z"
	entries := []entry{
		// Newest first: v3 (latest), marker m2, v2, marker m1, v1 — all
		// in the same millisecond.
		{key: "a", vid: "v3", modified: tie, size: 3, etag: "e3"},
		{dm: true, key: "a", vid: "m2", modified: tie},
		{key: "a", vid: "v2", modified: tie, size: 2, etag: "e2"},
		{dm: true, key: "a", vid: "m1", modified: tie},
		{key: "a", vid: "v1", modified: tie, size: 1, etag: "e1", storClass: "REDUCED_REDUNDANCY"},
		{dm: true, key: "b", vid: "mb", modified: tie},
		{key: "b", vid: "null", modified: "2025-01-01T00:00:00.000Z", size: 9, etag: "eb"},
		{key: "b", vid: "vb0", modified: "2024-01-01T00:00:00.000Z", size: 8, etag: "eb0"},
	}
	// 7: the next page continues key b's history; 2 and 1: pages end
	// inside key a's.
	for _, pageSize := range []int{7, 2, 1} {
		t.Run(fmt.Sprint(pageSize), func(t *testing.T) {
			c := listingFake(t, pageSize, entries...)
			vs := listAll(t, c)
			want := "a@v3/v#0 a@m2/dm#1 a@v2/v#2 a@m1/dm#3 a@v1/v#4 b@mb/dm#0 b@null/v#1 b@vb0/v#2"
			if got := describe(vs); got != want {
				t.Errorf("listing order\n got %s\nwant %s", got, want)
			}
			if v := vs[4]; v.Size != 1 || v.ETag != `"e1"` || v.StorageClass != "REDUCED_REDUNDANCY" || v.IsLatest {
				t.Errorf("a@v1 = %+v", v)
			}
			if !vs[0].IsLatest || !vs[5].IsLatest {
				t.Errorf("IsLatest lost: %+v %+v", vs[0], vs[5])
			}
		})
	}
}

// TestMergeFallsBackToTime: without a usable body order (refs that do not
// name the page's entries), versions and markers are merged by IsLatest
// and time.
func TestMergeFallsBackToTime(t *testing.T) {
	page := &s3.ListObjectVersionsOutput{}
	c := listingFake(t, 0,
		entry{key: "a", vid: "v2", modified: "2026-01-01T00:00:03.000Z"},
		entry{dm: true, key: "a", vid: "m1", modified: "2026-01-01T00:00:02.000Z"},
		entry{key: "a", vid: "v1", modified: "2026-01-01T00:00:01.000Z"},
	)
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	page.Versions, page.DeleteMarkers = out.Versions, out.DeleteMarkers
	for name, refs := range map[string][]entryRef{
		"none":  nil,
		"wrong": {{key: "a", versionID: "zz"}, {key: "a", versionID: "v1"}, {deleteMarker: true, key: "a", versionID: "m1"}},
	} {
		if got, want := describe(merge(page, refs)), "a@v2/v#0 a@m1/dm#0 a@v1/v#0"; got != want {
			t.Errorf("%s refs: %s, want %s", name, got, want)
		}
	}
}

func TestCaptureOrderParsesNestedElements(t *testing.T) {
	var c bodyCapture
	c.buf.WriteString(`<ListVersionsResult><Name>b</Name><Prefix>p</Prefix>` +
		`<Version><Key>k&amp;1</Key><VersionId>v1</VersionId><Owner><ID>owner</ID><DisplayName>x</DisplayName></Owner></Version>` +
		`<DeleteMarker><Key>k&amp;1</Key><VersionId>m1</VersionId></DeleteMarker>` +
		`<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListVersionsResult>`)
	refs, ok := c.order()
	if !ok || len(refs) != 2 || refs[0] != (entryRef{key: "k&1", versionID: "v1"}) || refs[1] != (entryRef{deleteMarker: true, key: "k&1", versionID: "m1"}) {
		t.Errorf("order() = %+v, %v", refs, ok)
	}
	c.buf.Reset()
	c.buf.WriteString("<ListVersionsResult><Version><Key>")
	if _, ok := c.order(); ok {
		t.Error("a truncated body gave an order")
	}
}
