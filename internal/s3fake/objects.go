package s3fake

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// getObject answers HEAD and GET of a version: its SSE-C key is checked,
// Range and partNumber read a part of it, and checksums are sent only
// when x-amz-checksum-mode is ENABLED (and the whole object is read).
// Archived versions (GLACIER, DEEP_ARCHIVE, an archive tier of
// INTELLIGENT_TIERING, not restored) answer GET 403 InvalidObjectState.
func getObject(_ *Server, b *bucket, r Request) *Reply {
	v, rep := b.find(r.Key, r.Query.Get("versionId"))
	if rep != nil {
		return rep
	}
	if rep := checkSSEC(r.Header, ssecPrefix, v); rep != nil {
		return rep
	}
	if r.Method == http.MethodGet && archived(v.header) {
		return Error(http.StatusForbidden, "InvalidObjectState")
	}
	size := int64(len(v.data))
	first, last, status := int64(0), size-1, http.StatusOK
	h := http.Header{}
	pn, rng := r.Query.Get("partNumber"), r.Header.Get("Range")
	switch {
	case pn != "" && rng != "":
		return errorReply(http.StatusBadRequest, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
	case pn != "":
		n, err := strconv.Atoi(pn)
		parts := v.parts
		if len(parts) == 0 {
			parts = []int64{size}
		} else {
			h.Set("x-amz-mp-parts-count", strconv.Itoa(len(parts)))
		}
		if err != nil || n < 1 || n > len(parts) {
			return errorReply(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable")
		}
		for _, p := range parts[:n-1] {
			first += p
		}
		last, status = first+parts[n-1]-1, http.StatusPartialContent
	case rng != "":
		var ok bool
		if first, last, ok = parseRange(rng, size); !ok {
			rep := Error(http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
			rep.Header.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			return rep
		}
		status = http.StatusPartialContent
	}
	for k, vs := range v.header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") && (status != http.StatusOK || r.Header.Get("x-amz-checksum-mode") != "ENABLED") {
			continue
		}
		h[k] = slices.Clone(vs)
	}
	h.Set("Content-Length", strconv.FormatInt(last-first+1, 10))
	h.Set("ETag", v.etag)
	h.Set("Last-Modified", v.modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	b.versionHeader(h, v.id)
	if status == http.StatusPartialContent {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
	}
	if len(v.tags) > 0 && r.Method == http.MethodGet {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(v.tags)))
	}
	return &Reply{Status: status, Header: h, Body: v.data[first : last+1]}
}

// archived reports a version in an archive tier and not restored.
func archived(h http.Header) bool {
	class := h.Get("X-Amz-Storage-Class")
	tiered := class == "GLACIER" || class == "DEEP_ARCHIVE" || h.Get("X-Amz-Archive-Status") != ""
	return tiered && !strings.Contains(h.Get("X-Amz-Restore"), `ongoing-request="false"`)
}

// parseRange reads "bytes=first-last", "bytes=first-" or "bytes=-suffix".
func parseRange(rng string, size int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(rng, "bytes=")
	a, z, dash := strings.Cut(spec, "-")
	if !found || !dash || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(z, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first >= size {
		return 0, 0, false
	}
	last = size - 1
	if z != "" {
		if last, err = strconv.ParseInt(z, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
	}
	return first, min(last, size-1), true
}

type tagXML struct {
	Key   string
	Value string
}

// getTagging answers GetObjectTagging (no SSE-C key is needed).
func getTagging(_ *Server, b *bucket, r Request) *Reply {
	v, rep := b.find(r.Key, r.Query.Get("versionId"))
	if rep != nil {
		return rep
	}
	var out struct {
		XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
		Tags    []tagXML `xml:"TagSet>Tag"`
	}
	for _, k := range slices.Sorted(maps.Keys(v.tags)) {
		out.Tags = append(out.Tags, tagXML{k, v.tags[k]})
	}
	rep = marshal(out)
	b.versionHeader(rep.Header, v.id)
	return rep
}

// putTagging answers PutObjectTagging: the version's tags are replaced.
func putTagging(_ *Server, b *bucket, r Request) *Reply {
	v, rep := b.find(r.Key, r.Query.Get("versionId"))
	if rep != nil {
		return rep
	}
	var body struct {
		Tags []tagXML `xml:"TagSet>Tag"`
	}
	if err := xml.Unmarshal(r.Content, &body); err != nil {
		return Error(http.StatusBadRequest, "MalformedXML")
	}
	v.tags = map[string]string{}
	for _, tag := range body.Tags {
		v.tags[tag.Key] = tag.Value
	}
	rep = &Reply{Status: http.StatusOK, Header: http.Header{}}
	b.versionHeader(rep.Header, v.id)
	return rep
}

// storedHeaders are the headers of a write request S3 keeps with the
// object and answers on HEAD and GET (besides x-amz-meta-*).
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Language", "Content-Type", "Expires",
	"X-Amz-Website-Redirect-Location"}

// contentHeaders picks the content headers and user metadata of h (a
// request, or a version to copy), Content-Encoding without aws-chunked.
func contentHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		if strings.HasPrefix(k, "X-Amz-Meta-") || slices.Contains(storedHeaders, k) {
			out[k] = slices.Clone(vs)
		}
	}
	var enc []string
	for _, e := range strings.Split(h.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
			enc = append(enc, e)
		}
	}
	if len(enc) > 0 {
		out.Set("Content-Encoding", strings.Join(enc, ","))
	}
	return out
}

// newHeader is the header a write stores: content headers (or those
// given), storage class, encryption, checksum.
func newHeader(content http.Header, class string, enc encryption) http.Header {
	h := content.Clone()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", defaultContentType)
	}
	if class != "" && class != "STANDARD" {
		h.Set("X-Amz-Storage-Class", class)
	}
	for k, vs := range encHeader(enc) {
		h[k] = vs
	}
	return h
}

func encHeader(enc encryption) http.Header {
	h := http.Header{}
	enc.apply(h)
	return h
}

// written is what a write request (PutObject, CreateMultipartUpload)
// says of the object it makes.
type written struct {
	header http.Header // content headers, metadata, storage class, encryption
	enc    encryption
	tags   map[string]string
}

func (b *bucket) written(r Request) (written, *Reply) {
	enc, rep := b.writeEncryption(r.Header)
	if rep != nil {
		return written{}, rep
	}
	tags, rep := parseTags(r.Header.Get("x-amz-tagging"))
	if rep != nil {
		return written{}, rep
	}
	return written{header: newHeader(contentHeaders(r.Header), r.Header.Get("x-amz-storage-class"), enc), enc: enc, tags: tags}, nil
}

// parseTags reads x-amz-tagging (URL query form).
func parseTags(s string) (map[string]string, *Reply) {
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil, errorReply(http.StatusBadRequest, "InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := map[string]string{}
	for k, vs := range q {
		tags[k] = vs[0]
	}
	return tags, nil
}

// putObject stores a new version: the payload (aws-chunked decoded, its
// Content-MD5 and checksum checked), content headers, metadata, tags,
// storage class and encryption.
func (s *Server) putObject(b *bucket, r Request) *Reply {
	if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" && d != strconv.Itoa(len(r.Content)) {
		return Error(http.StatusBadRequest, "IncompleteBody")
	}
	alg, rep := payloadChecksum(r, "")
	if rep != nil {
		return rep
	}
	w, rep := b.written(r)
	if rep != nil {
		return rep
	}
	v := &version{data: r.Content, tags: w.tags, header: w.header}
	setChecksum(v.header, alg, Checksum(alg, v.data), fullObject)
	s.add(b, r.Key, v)
	h := encHeader(w.enc)
	h.Set("ETag", v.etag)
	setChecksum(h, alg, v.header.Get(checksumHeader(alg)), fullObject)
	b.versionHeader(h, v.id)
	return &Reply{Status: http.StatusOK, Header: h}
}

// deleteObject removes a version (with versionId), or the key's current
// state: a delete marker in a versioned bucket (named "null" while
// versioning is suspended), the object itself in a bucket never versioned.
func (s *Server) deleteObject(b *bucket, r Request) *Reply {
	h := http.Header{}
	vs := b.objects[r.Key]
	if id, ok := r.Query["versionId"]; ok {
		for i, v := range vs {
			if v.id == id[0] {
				b.objects[r.Key] = slices.Delete(slices.Clone(vs), i, i+1)
				if v.deleteMarker {
					h.Set("x-amz-delete-marker", "true")
				}
				break
			}
		}
		b.versionHeader(h, id[0])
		return &Reply{Status: http.StatusNoContent, Header: h}
	}
	switch b.versioning {
	case "":
		delete(b.objects, r.Key)
	default:
		v := &version{deleteMarker: true}
		if b.versioning == "Suspended" {
			v.id = "null"
		}
		s.add(b, r.Key, v)
		h.Set("x-amz-delete-marker", "true")
		h.Set("x-amz-version-id", v.id)
	}
	return &Reply{Status: http.StatusNoContent, Header: h}
}

// ns is the XML namespace of S3's answers.
const ns = "http://s3.amazonaws.com/doc/2006-03-01/"

// marshal is a 200 reply with v as its XML body.
func marshal(v any) *Reply {
	body, err := xml.Marshal(v)
	if err != nil {
		return errorReply(http.StatusInternalServerError, "InternalError", "s3fake: "+err.Error())
	}
	return XML(string(body))
}
