package planner

import "strings"

// Encryption is a server-side encryption class, named as S3 Batch
// Replication's manifest filter names them.
type Encryption string

const (
	NotSSE  Encryption = "NOT-SSE"
	SSES3   Encryption = "SSE-S3"
	SSEKMS  Encryption = "SSE-KMS"
	DSSEKMS Encryption = "DSSE-KMS"
	SSEC    Encryption = "SSE-C"
)

// EncryptionOf classifies the encryption headers of a HEAD response:
// sse is x-amz-server-side-encryption, customerAlgorithm is
// x-amz-server-side-encryption-customer-algorithm.
func EncryptionOf(sse, customerAlgorithm string) Encryption {
	switch {
	case customerAlgorithm != "":
		return SSEC
	case sse == "AES256":
		return SSES3
	case sse == "aws:kms":
		return SSEKMS
	case sse == "aws:kms:dsse":
		return DSSEKMS
	default:
		return NotSSE
	}
}

// ParseEncryption accepts the names above, case-insensitively.
func ParseEncryption(s string) (Encryption, bool) {
	for _, e := range []Encryption{NotSSE, SSES3, SSEKMS, DSSEKMS, SSEC} {
		if strings.EqualFold(s, string(e)) {
			return e, true
		}
	}
	return "", false
}

// etagIsMD5 reports whether an object of this class has an MD5 ETag when
// uploaded in one part: only plaintext and SSE-S3 do.
func (e Encryption) etagIsMD5() bool { return e == NotSSE || e == SSES3 }
