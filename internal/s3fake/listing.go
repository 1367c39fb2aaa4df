package s3fake

import (
	"cmp"
	"encoding/xml"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ownerXML is the owner S3 names in listings.
type ownerXML struct {
	ID          string
	DisplayName string
}

var owner = ownerXML{ID: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a", DisplayName: "s3fake"}

// versionXML and markerXML are the entries of a ListObjectVersions page.
type (
	versionXML struct {
		XMLName      xml.Name `xml:"Version"`
		Key          string
		VersionId    string
		IsLatest     bool
		LastModified string
		ETag         string
		Size         int64
		StorageClass string
		Owner        ownerXML
	}
	markerXML struct {
		XMLName      xml.Name `xml:"DeleteMarker"`
		Key          string
		VersionId    string
		IsLatest     bool
		LastModified string
		Owner        ownerXML
	}
)

// listVersions answers ListObjectVersions: keys under prefix in byte
// order, each key's versions and delete markers interleaved newest first,
// in pages of max-keys (at most 1000, or the bucket's MaxKeys) continued
// from key-marker and version-id-marker. Delimiters are not served (501).
func listVersions(_ *Server, b *bucket, r Request) *Reply {
	q := r.Query
	if q.Get("delimiter") != "" {
		return errorReply(http.StatusNotImplemented, "NotImplemented", "s3fake lists no common prefixes (delimiter)")
	}
	prefix, keyMarker, vidMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("version-id-marker")
	limit, rep := maxParam(r, "max-keys", b.maxKeys)
	if rep != nil {
		return rep
	}
	if vidMarker != "" && keyMarker == "" {
		return errorReply(http.StatusBadRequest, "InvalidArgument", "A version-id marker cannot be specified without a key marker.")
	}
	out := struct {
		XMLName             xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
		Name                string
		Prefix              string
		KeyMarker           string
		VersionIdMarker     string
		NextKeyMarker       string `xml:",omitempty"`
		NextVersionIdMarker string `xml:",omitempty"`
		MaxKeys             int
		IsTruncated         bool
		Entries             []any
	}{Name: b.name, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: vidMarker, MaxKeys: limit}
	var lastKey, lastID string
	for _, key := range slices.Sorted(maps.Keys(b.objects)) {
		if !strings.HasPrefix(key, prefix) || key < keyMarker || key == keyMarker && vidMarker == "" {
			continue
		}
		vs := b.objects[key]
		start := 0
		if key == keyMarker {
			start = len(vs)
			for i, v := range vs {
				if v.id == vidMarker {
					start = i + 1
				}
			}
		}
		for i, v := range vs[start:] {
			if len(out.Entries) == limit {
				out.IsTruncated, out.NextKeyMarker, out.NextVersionIdMarker = true, lastKey, lastID
				return marshal(out)
			}
			out.Entries = append(out.Entries, entryXML(key, v, start+i == 0))
			lastKey, lastID = key, v.id
		}
	}
	return marshal(out)
}

func entryXML(key string, v *version, latest bool) any {
	if v.deleteMarker {
		return markerXML{Key: key, VersionId: v.id, IsLatest: latest, LastModified: timeXML(v.modified), Owner: owner}
	}
	return versionXML{Key: key, VersionId: v.id, IsLatest: latest, LastModified: timeXML(v.modified), ETag: v.etag,
		Size: int64(len(v.data)), StorageClass: cmp.Or(v.header.Get("X-Amz-Storage-Class"), "STANDARD"), Owner: owner}
}

// maxParam reads a page size parameter: at most 1000, and at most cap
// when cap is set.
func maxParam(r Request, name string, cap int) (int, *Reply) {
	n := 1000
	if s := r.Query.Get(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, errorReply(http.StatusBadRequest, "InvalidArgument", "Provided "+name+" not an integer or within integer range")
		}
		n = min(v, n)
	}
	if cap > 0 {
		n = min(n, cap)
	}
	return n, nil
}

// uploadXML is one upload of ListMultipartUploads.
type uploadXML struct {
	Key          string
	UploadId     string
	Initiator    ownerXML
	Owner        ownerXML
	StorageClass string
	Initiated    string
}

// listUploads answers ListMultipartUploads: the uploads under prefix by
// key then age, in pages of max-uploads continued from key-marker and
// upload-id-marker.
func (s *Server) listUploads(b *bucket, r Request) *Reply {
	q := r.Query
	if q.Get("delimiter") != "" {
		return errorReply(http.StatusNotImplemented, "NotImplemented", "s3fake lists no common prefixes (delimiter)")
	}
	limit, rep := maxParam(r, "max-uploads", 0)
	if rep != nil {
		return rep
	}
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	out := struct {
		XMLName            xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
		Bucket             string
		KeyMarker          string
		UploadIdMarker     string
		NextKeyMarker      string `xml:",omitempty"`
		NextUploadIdMarker string `xml:",omitempty"`
		Prefix             string
		MaxUploads         int
		IsTruncated        bool
		Uploads            []uploadXML `xml:"Upload"`
	}{Bucket: b.name, KeyMarker: keyMarker, UploadIdMarker: idMarker, Prefix: q.Get("prefix"), MaxUploads: limit}
	all := s.sortedUploads(b.name, out.Prefix)
	start := 0
	if keyMarker != "" {
		// After the marker: keys past it, and with upload-id-marker the
		// uploads of its key after that one.
		start = len(all)
		for i, u := range all {
			if u.key > keyMarker || u.key == keyMarker && idMarker != "" && u.id == idMarker {
				start = i
				if u.key == keyMarker {
					start++
				}
				break
			}
		}
	}
	for _, u := range all[start:] {
		if len(out.Uploads) == limit {
			last := out.Uploads[len(out.Uploads)-1]
			out.IsTruncated, out.NextKeyMarker, out.NextUploadIdMarker = true, last.Key, last.UploadId
			break
		}
		out.Uploads = append(out.Uploads, uploadXML{Key: u.key, UploadId: u.id, Initiator: owner, Owner: owner,
			StorageClass: cmp.Or(u.header.Get("X-Amz-Storage-Class"), "STANDARD"), Initiated: timeXML(u.initiated)})
	}
	return marshal(out)
}
