package s3fake

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// minPartSize is S3's least size of a part that is not the last.
const minPartSize = 5 << 20

// upload is a multipart upload in progress.
type upload struct {
	id, bucket, key string
	seq             int
	initiated       time.Time
	header          http.Header // of the object it makes: content headers, metadata, class, encryption
	tags            map[string]string
	enc             encryption
	checksumAlg     string
	checksumType    string
	parts           map[int32]*part
}

// part is one uploaded part.
type part struct {
	data     []byte
	etag     string
	checksum string // of the upload's algorithm
	modified time.Time
}

// createUpload starts an upload with the object's content headers,
// metadata, tags, storage class, encryption and checksum algorithm (and
// type: COMPOSITE, FULL_OBJECT for CRC64NVME, unless x-amz-checksum-type
// says). Upload ids are "upload-1", "upload-2", ... in order.
func (s *Server) createUpload(b *bucket, r Request) *Reply {
	w, rep := b.written(r)
	if rep != nil {
		return rep
	}
	alg, rep := requestedAlgorithm(r.Header.Get("x-amz-checksum-algorithm"))
	if rep != nil {
		return rep
	}
	typ := r.Header.Get("x-amz-checksum-type")
	if typ == "" && alg != "" {
		typ = composite
		if alg == "CRC64NVME" {
			typ = fullObject
		}
	}
	s.uploadSeq++
	u := &upload{id: fmt.Sprintf("upload-%d", s.uploadSeq), bucket: b.name, key: r.Key, seq: s.uploadSeq, initiated: now(),
		header: w.header, tags: w.tags, enc: w.enc,
		checksumAlg: alg, checksumType: typ, parts: map[int32]*part{}}
	s.uploads[u.id] = u
	rep = marshal(struct {
		XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
		Bucket   string
		Key      string
		UploadId string
	}{Bucket: b.name, Key: r.Key, UploadId: u.id})
	w.enc.apply(rep.Header)
	if alg != "" {
		rep.Header.Set("x-amz-checksum-algorithm", alg)
		rep.Header.Set("x-amz-checksum-type", typ)
	}
	return rep
}

// findUpload is the upload a request names, or 404 NoSuchUpload.
func (s *Server) findUpload(b *bucket, r Request) (*upload, *Reply) {
	u := s.uploads[r.Query.Get("uploadId")]
	if u == nil || u.bucket != b.name || u.key != r.Key {
		return nil, Error(http.StatusNotFound, "NoSuchUpload")
	}
	return u, nil
}

// checkUploadKey checks that a part request of an SSE-C upload gives its
// key, and that other uploads get none.
func (u *upload) checkUploadKey(r Request) *Reply {
	md5, rep := ssecKeyOf(r.Header, ssecPrefix)
	switch {
	case rep != nil:
		return rep
	case md5 != u.enc.ssecMD5:
		return errorReply(http.StatusBadRequest, "InvalidRequest", "The multipart upload initiate requested encryption. "+
			"Subsequent part requests must include the appropriate encryption parameters.")
	}
	return nil
}

// uploadPart stores one part: the payload of UploadPart (checksum
// checked), or the range x-amz-copy-source-range (the whole object
// without it) of a source version for UploadPartCopy.
func (s *Server) uploadPart(b *bucket, r Request) *Reply {
	u, rep := s.findUpload(b, r)
	if rep != nil {
		return rep
	}
	n, err := strconv.Atoi(r.Query.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return errorReply(http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	if rep := u.checkUploadKey(r); rep != nil {
		return rep
	}
	p := &part{modified: now()}
	h := http.Header{}
	alg := u.checksumAlg
	if r.Op == "UploadPartCopy" {
		src, sv, rep := s.copySource(r)
		if rep != nil {
			return rep
		}
		first, last := int64(0), int64(len(sv.data))-1
		if rng := r.Header.Get("x-amz-copy-source-range"); rng != "" {
			var ok bool
			if first, last, ok = parseRange(rng, int64(len(sv.data))); !ok || last-first+1 != rangeLen(rng) {
				return errorReply(http.StatusBadRequest, "InvalidArgument",
					fmt.Sprintf("Range specified is not valid for source object of size: %d", len(sv.data)))
			}
		}
		p.data = sv.data[first : last+1]
		if src.versioning != "" {
			h.Set("x-amz-copy-source-version-id", sv.id)
		}
	} else {
		if alg, rep = payloadChecksum(r, alg); rep != nil {
			return rep
		}
		if u.checksumAlg != "" && alg != u.checksumAlg {
			return errorReply(http.StatusBadRequest, "InvalidRequest", fmt.Sprintf(
				"Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", u.checksumAlg, alg))
		}
		p.data = r.Content
	}
	p.etag = etagOf(p.data, nil, u.enc.opaque(), fmt.Sprintf("%s part %d", u.id, n))
	p.checksum = Checksum(alg, p.data)
	u.parts[int32(n)] = p
	u.enc.apply(h)
	if r.Op == "UploadPartCopy" {
		rep = marshal(copyResultXML{XMLName: xml.Name{Space: ns, Local: "CopyPartResult"}, ETag: p.etag,
			LastModified: timeXML(p.modified), checksumsXML: checksumsOf(alg, p.checksum, "")})
	} else {
		rep = &Reply{Status: http.StatusOK, Header: Hdr("ETag", p.etag)}
		if alg != "" {
			rep.Header.Set(checksumHeader(alg), p.checksum)
		}
	}
	for k, vs := range h {
		rep.Header[k] = vs
	}
	return rep
}

// rangeLen is the length a "bytes=first-last" range asks for (-1 for
// other forms, which part copies may not use).
func rangeLen(rng string) int64 {
	a, z, _ := strings.Cut(strings.TrimPrefix(rng, "bytes="), "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(z, 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return last - first + 1
}

// partXML is one part of ListParts.
type partXML struct {
	PartNumber   int32
	LastModified string
	ETag         string
	Size         int64
	checksumsXML
}

// listParts lists an upload's parts, by part-number-marker and max-parts.
func (s *Server) listParts(b *bucket, r Request) *Reply {
	u, rep := s.findUpload(b, r)
	if rep != nil {
		return rep
	}
	marker, _ := strconv.Atoi(r.Query.Get("part-number-marker"))
	limit := 1000
	if m, err := strconv.Atoi(r.Query.Get("max-parts")); err == nil && m >= 0 {
		limit = min(m, 1000)
	}
	out := struct {
		XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
		Bucket, Key          string
		UploadId             string
		PartNumberMarker     int
		NextPartNumberMarker int `xml:",omitempty"`
		MaxParts             int
		IsTruncated          bool
		Parts                []partXML `xml:"Part"`
		StorageClass         string
		ChecksumAlgorithm    string `xml:",omitempty"`
		ChecksumType         string `xml:",omitempty"`
	}{Bucket: b.name, Key: u.key, UploadId: u.id, PartNumberMarker: marker, MaxParts: limit,
		StorageClass: cmp.Or(u.header.Get("X-Amz-Storage-Class"), "STANDARD"), ChecksumAlgorithm: u.checksumAlg, ChecksumType: u.checksumType}
	for _, n := range slices.Sorted(maps.Keys(u.parts)) {
		if int(n) <= marker {
			continue
		}
		if len(out.Parts) == limit {
			out.IsTruncated = true
			break
		}
		p := u.parts[n]
		out.Parts = append(out.Parts, partXML{PartNumber: n, LastModified: timeXML(p.modified), ETag: p.etag,
			Size: int64(len(p.data)), checksumsXML: checksumsOf(u.checksumAlg, p.checksum, "")})
		out.NextPartNumberMarker = int(n)
	}
	return marshal(out)
}

// completeBody is CompleteMultipartUpload's request.
type completeBody struct {
	Parts []struct {
		PartNumber int32
		ETag       string
		checksumsXML
	} `xml:"Part"`
}

// completeUpload makes the object of an upload from the parts the request
// lists (ascending, each as uploaded, all but the last at least 5 MiB).
// Its ETag is the MD5 of the parts' MD5s and "-N" (opaque when
// encrypted with KMS or SSE-C); its checksum, where the upload has an
// algorithm, the checksum of the part checksums and "-N" (COMPOSITE) or
// of the whole content (FULL_OBJECT).
func (s *Server) completeUpload(b *bucket, r Request) *Reply {
	u, rep := s.findUpload(b, r)
	if rep != nil {
		return rep
	}
	var body completeBody
	if err := xml.Unmarshal(r.Content, &body); err != nil || len(body.Parts) == 0 {
		return Error(http.StatusBadRequest, "MalformedXML")
	}
	v := &version{header: u.header.Clone(), tags: u.tags}
	var sums []string
	for i, lp := range body.Parts {
		p := u.parts[lp.PartNumber]
		switch {
		case i > 0 && lp.PartNumber <= body.Parts[i-1].PartNumber:
			return Error(http.StatusBadRequest, "InvalidPartOrder")
		case p == nil || strings.Trim(lp.ETag, `"`) != strings.Trim(p.etag, `"`):
			return Error(http.StatusBadRequest, "InvalidPart")
		case u.checksumAlg != "" && !slices.Contains([]string{"", p.checksum}, checksumField(lp.checksumsXML, u.checksumAlg)):
			return Error(http.StatusBadRequest, "InvalidPart")
		case i < len(body.Parts)-1 && len(p.data) < minPartSize:
			return Error(http.StatusBadRequest, "EntityTooSmall")
		}
		v.data = append(v.data, p.data...)
		v.parts = append(v.parts, int64(len(p.data)))
		sums = append(sums, p.checksum)
	}
	v.etag = etagOf(v.data, v.parts, u.enc.opaque(), u.id)
	if u.checksumAlg != "" {
		value := Checksum(u.checksumAlg, v.data)
		if u.checksumType == composite {
			value = compositeChecksum(u.checksumAlg, sums)
		}
		setChecksum(v.header, u.checksumAlg, value, u.checksumType)
	}
	delete(s.uploads, u.id)
	s.add(b, u.key, v)
	alg, value := checksumOf(v.header)
	rep = marshal(struct {
		XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
		Location string
		Bucket   string
		Key      string
		ETag     string
		checksumsXML
	}{Location: "/" + b.name + "/" + u.key, Bucket: b.name, Key: u.key, ETag: v.etag, checksumsXML: checksumsOf(alg, value, u.checksumType)})
	u.enc.apply(rep.Header)
	b.versionHeader(rep.Header, v.id)
	return rep
}

// checksumField is the element of alg in c.
func checksumField(c checksumsXML, alg string) string {
	return map[string]string{"CRC32": c.ChecksumCRC32, "CRC32C": c.ChecksumCRC32C, "CRC64NVME": c.ChecksumCRC64NVME,
		"SHA1": c.ChecksumSHA1, "SHA256": c.ChecksumSHA256}[alg]
}

// abortUpload drops an upload and its parts.
func (s *Server) abortUpload(b *bucket, r Request) *Reply {
	u, rep := s.findUpload(b, r)
	if rep != nil {
		return rep
	}
	delete(s.uploads, u.id)
	return &Reply{Status: http.StatusNoContent, Header: http.Header{}}
}

// sortedUploads are a bucket's uploads under prefix, by key then age.
func (s *Server) sortedUploads(bucket, prefix string) []*upload {
	var out []*upload
	for _, u := range s.uploads {
		if u.bucket == bucket && strings.HasPrefix(u.key, prefix) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b *upload) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq)) })
	return out
}
