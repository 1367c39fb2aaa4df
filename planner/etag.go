package planner

import "strings"

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
func isMultipartETag(etag string) bool { return strings.Contains(etag, "-") }
