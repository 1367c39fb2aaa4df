package planner

import (
	"fmt"
	"strconv"
	"strings"
)

// ETag statuses, as the report shows them.
const (
	ETagMatch             = "match"
	ETagDiffersExpected   = "differs-expected"
	ETagDiffersUnexpected = "differs-unexpected"
)

// CompareETags classifies a replica's ETag against its source's. An ETag is
// an MD5 of the content only for single-part plaintext and SSE-S3 objects;
// KMS and SSE-C ETags are opaque and multipart ETags are md5(part md5s)-N,
// so a difference is expected whenever the encryption class or the part
// layout changed. The reason says which.
func CompareETags(srcETag, replicaETag string, srcEnc, replicaEnc Encryption) (status, reason string) {
	s, r := strings.Trim(srcETag, `"`), strings.Trim(replicaETag, `"`)
	if s == r && s != "" {
		return ETagMatch, ""
	}
	switch {
	case !srcEnc.etagIsMD5() || !replicaEnc.etagIsMD5():
		return ETagDiffersExpected, "SSE-C/KMS ETag is not an MD5"
	case isMultipartETag(s) || isMultipartETag(r):
		// The copy does not replay the source's part sizes, so any
		// difference involving a multipart ETag comes from the layout.
		return ETagDiffersExpected, "multipart layout changed"
	default:
		return ETagDiffersUnexpected, "plaintext ETags differ"
	}
}

// isMultipartETag reports the "hash-N" form of a multipart upload's ETag.
func isMultipartETag(etag string) bool { return MultipartParts(etag) > 0 }

// MultipartParts is N for an ETag of the multipart form "<32 hex>-N" (the
// number of parts the object was uploaded in), else 0.
func MultipartParts(etag string) int {
	hash, n, ok := strings.Cut(strings.Trim(etag, `"`), "-")
	if !ok || len(hash) != 32 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
		return 0
	}
	parts, err := strconv.Atoi(n)
	if err != nil || parts < 1 || parts > 10000 {
		return 0
	}
	return parts
}

// Checksum is a whole-object checksum as S3 reports it.
type Checksum struct {
	Algorithm string // CRC32, CRC32C, CRC64NVME, SHA1, SHA256; "" = none
	Value     string // base64
	Type      string // FULL_OBJECT or COMPOSITE
}

// Checksum statuses, as the report shows them.
const (
	ChecksumMatch       = "match"
	ChecksumMismatch    = "mismatch"
	ChecksumNotCompared = "not-compared"
)

// CompareChecksums compares a replica's checksum with its source's. They
// do not depend on encryption, so unlike ETags they are comparable across
// encryption classes; a composite (multipart) checksum depends on the part
// layout too. The reason says what was compared, or why nothing was.
func CompareChecksums(src, replica Checksum) (status, reason string) {
	switch {
	case src.Algorithm == "":
		return ChecksumNotCompared, "the source has no checksum"
	case src.Value == "":
		return ChecksumNotCompared, fmt.Sprintf("the source's %s value is not known (an inventory names only the algorithm)", src.Algorithm)
	case replica.Algorithm == "":
		return ChecksumNotCompared, "the replica has no checksum (a multipart copy has none on this server)"
	case replica.Algorithm != src.Algorithm:
		return ChecksumNotCompared, fmt.Sprintf("the source has %s, the replica %s", src.Algorithm, replica.Algorithm)
	case replica.Value == src.Value:
		return ChecksumMatch, fmt.Sprintf("%s %s equal", src.Algorithm, checksumTypeName(src.Type))
	case src.Type == "COMPOSITE" || replica.Type == "COMPOSITE":
		return ChecksumNotCompared, fmt.Sprintf("composite %s checksums depend on the part layout", src.Algorithm)
	default:
		return ChecksumMismatch, fmt.Sprintf("%s differs: source %s, replica %s", src.Algorithm, src.Value, replica.Value)
	}
}

func checksumTypeName(t string) string {
	if t == "COMPOSITE" {
		return "(composite)"
	}
	return "(full object)"
}
