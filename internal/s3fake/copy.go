package s3fake

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// parseCopySource splits x-amz-copy-source the strictest way servers read
// it: the query after the first literal "?", then the path form-decoded,
// so that a literal "+" reads as a space. AWS S3 does so (copies of keys
// with an unescaped "+" fail with NoSuchKey), as did MinIO before it
// switched to url.Parse, and SeaweedFS.
func parseCopySource(raw string) (bucket, key, versionID string, ok bool) {
	path, query, _ := strings.Cut(raw, "?")
	path, err := url.QueryUnescape(strings.TrimPrefix(path, "/"))
	if err != nil {
		return "", "", "", false
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", "", false
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key, q.Get("versionId"), bucket != "" && key != ""
}

// copySource finds the version a copy reads, checking its SSE-C key (the
// x-amz-copy-source-server-side-encryption-customer-* headers). It also
// returns the source's bucket.
func (s *Server) copySource(r Request) (*bucket, *version, *Reply) {
	name, key, versionID, ok := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if !ok {
		return nil, nil, errorReply(http.StatusBadRequest, "InvalidArgument", "Invalid copy source encoding")
	}
	src := s.buckets[name]
	if src == nil {
		return nil, nil, Error(http.StatusNotFound, "NoSuchBucket")
	}
	v, rep := src.find(key, versionID)
	switch {
	case rep != nil && rep.Status == http.StatusMethodNotAllowed:
		return nil, nil, errorReply(http.StatusBadRequest, "InvalidRequest",
			"The source of a copy request may not specifically refer to a delete marker by version id.")
	case rep != nil:
		return nil, nil, rep
	case archived(v.header):
		return nil, nil, Error(http.StatusForbidden, "InvalidObjectState")
	}
	if rep := checkSSEC(r.Header, copySSECPrefix, v); rep != nil {
		return nil, nil, rep
	}
	return src, v, nil
}

// copyResultXML is CopyObject's and UploadPartCopy's answer.
type copyResultXML struct {
	XMLName      xml.Name
	ETag         string
	LastModified string
	checksumsXML
}

// checksumsXML are the checksum elements of an XML answer.
type checksumsXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// checksumsOf fills the element of one checksum.
func checksumsOf(alg, value, typ string) checksumsXML {
	var c checksumsXML
	switch alg {
	case "CRC32":
		c.ChecksumCRC32 = value
	case "CRC32C":
		c.ChecksumCRC32C = value
	case "CRC64NVME":
		c.ChecksumCRC64NVME = value
	case "SHA1":
		c.ChecksumSHA1 = value
	case "SHA256":
		c.ChecksumSHA256 = value
	default:
		return c
	}
	c.ChecksumType = typ
	return c
}

// timeXML is the form of times in XML answers.
func timeXML(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// copyObject makes a new version from a source version: its content;
// its content headers, metadata and tags unless the directives say
// REPLACE; the storage class and encryption the request asks for (else
// STANDARD and the bucket default, never the source's); the checksum of
// x-amz-checksum-algorithm, else of the source's algorithm.
func (s *Server) copyObject(b *bucket, r Request) *Reply {
	src, sv, rep := s.copySource(r)
	if rep != nil {
		return rep
	}
	enc, rep := b.writeEncryption(r.Header)
	if rep != nil {
		return rep
	}
	metaDir, tagDir := r.Header.Get("x-amz-metadata-directive"), r.Header.Get("x-amz-tagging-directive")
	for _, d := range []string{metaDir, tagDir} {
		if d != "" && d != "COPY" && d != "REPLACE" {
			return errorReply(http.StatusBadRequest, "InvalidArgument", "Unknown directive "+d)
		}
	}
	srcBucket, srcKey, _, _ := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if srcBucket == b.name && srcKey == r.Key && metaDir != "REPLACE" && r.Header.Get(hSSE) == "" &&
		r.Header.Get(hSSECAlgorithm) == "" && r.Header.Get("x-amz-storage-class") == "" {
		return errorReply(http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself "+
			"without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	content, tags := contentHeaders(sv.header), sv.tags
	if metaDir == "REPLACE" {
		content = contentHeaders(r.Header)
	}
	if tagDir == "REPLACE" {
		if tags, rep = parseTags(r.Header.Get("x-amz-tagging")); rep != nil {
			return rep
		}
	}
	alg, rep := requestedAlgorithm(r.Header.Get("x-amz-checksum-algorithm"))
	if rep != nil {
		return rep
	}
	if alg == "" {
		alg, _ = checksumOf(sv.header)
	}
	v := &version{data: sv.data, tags: tags, header: newHeader(content, r.Header.Get("x-amz-storage-class"), enc)}
	setChecksum(v.header, alg, Checksum(alg, v.data), fullObject)
	s.add(b, r.Key, v)

	h := encHeader(enc)
	b.versionHeader(h, v.id)
	if src.versioning != "" {
		h.Set("x-amz-copy-source-version-id", sv.id)
	}
	rep = marshal(copyResultXML{XMLName: xml.Name{Space: ns, Local: "CopyObjectResult"}, ETag: v.etag, LastModified: timeXML(v.modified),
		checksumsXML: checksumsOf(alg, v.header.Get(checksumHeader(alg)), fullObject)})
	for k, vs := range h {
		rep.Header[k] = vs
	}
	return rep
}
