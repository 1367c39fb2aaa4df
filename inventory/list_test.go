package inventory

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3backfill/s3backfill/planner"
)

// entry is one <Version> or <DeleteMarker> of a fake listing page.
type entry struct {
	dm        bool
	key, vid  string
	latest    bool
	modified  string
	size      int
	etag      string
	storClass string
}

func (e entry) xml() string {
	if e.dm {
		return fmt.Sprintf("<DeleteMarker><Key>%s</Key><VersionId>%s</VersionId><IsLatest>%t</IsLatest><LastModified>%s</LastModified></DeleteMarker>",
			e.key, e.vid, e.latest, e.modified)
	}
	return fmt.Sprintf("<Version><Key>%s</Key><VersionId>%s</VersionId><IsLatest>%t</IsLatest><LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>%s</StorageClass></Version>",
		e.key, e.vid, e.latest, e.modified, e.etag, e.size, e.storClass)
}

// fakeListing serves ListObjectVersions pages in order; each page after
// the first is asked for with the previous page's key marker.
func fakeListing(t *testing.T, pages ...[]entry) *s3.Client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["versions"]; !ok {
			http.Error(w, "not a listing", http.StatusBadRequest)
			return
		}
		n := 0
		if m := r.URL.Query().Get("key-marker"); m != "" {
			fmt.Sscanf(m, "page-%d", &n)
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>`)
		if n+1 < len(pages) {
			fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><NextKeyMarker>page-%d</NextKeyMarker><NextVersionIdMarker>x</NextVersionIdMarker>", n+1)
		} else {
			b.WriteString("<IsTruncated>false</IsTruncated>")
		}
		for _, e := range pages[n] {
			b.WriteString(e.xml())
		}
		b.WriteString("</ListVersionsResult>")
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, b.String())
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider("a", "b", ""),
		RetryMaxAttempts: 1,
	})
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
	c := fakeListing(t,
		[]entry{
			// Newest first: v3 (latest), marker m2, v2, marker m1, v1 — all
			// in the same millisecond.
			{key: "a", vid: "v3", latest: true, modified: tie, size: 3, etag: "e3"},
			{dm: true, key: "a", vid: "m2", modified: tie},
			{key: "a", vid: "v2", modified: tie, size: 2, etag: "e2"},
			{dm: true, key: "a", vid: "m1", modified: tie},
			{key: "a", vid: "v1", modified: tie, size: 1, etag: "e1", storClass: "REDUCED_REDUNDANCY"},
			{dm: true, key: "b", vid: "mb", latest: true, modified: tie},
			{key: "b", vid: "null", modified: "2025-01-01T00:00:00.000Z", size: 9, etag: "eb"},
		},
		[]entry{ // the next page continues key b's history
			{key: "b", vid: "vb0", modified: "2024-01-01T00:00:00.000Z", size: 8, etag: "eb0"},
		},
	)
	got := describe(listAll(t, c))
	want := "a@v3/v#0 a@m2/dm#1 a@v2/v#2 a@m1/dm#3 a@v1/v#4 b@mb/dm#0 b@null/v#1 b@vb0/v#2"
	if got != want {
		t.Errorf("listing order\n got %s\nwant %s", got, want)
	}
	vs := listAll(t, c)
	if v := vs[4]; v.Size != 1 || v.ETag != `"e1"` || v.StorageClass != "REDUCED_REDUNDANCY" || v.IsLatest {
		t.Errorf("a@v1 = %+v", v)
	}
	if !vs[0].IsLatest || !vs[5].IsLatest {
		t.Errorf("IsLatest lost: %+v %+v", vs[0], vs[5])
	}
}

// TestMergeFallsBackToTime: without a usable body order (refs that do not
// name the page's entries), versions and markers are merged by IsLatest
// and time.
func TestMergeFallsBackToTime(t *testing.T) {
	page := &s3.ListObjectVersionsOutput{}
	c := fakeListing(t, []entry{
		{key: "a", vid: "v2", latest: true, modified: "2026-01-01T00:00:03.000Z"},
		{dm: true, key: "a", vid: "m1", modified: "2026-01-01T00:00:02.000Z"},
		{key: "a", vid: "v1", modified: "2026-01-01T00:00:01.000Z"},
	})
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
