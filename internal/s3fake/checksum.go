package s3fake

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/s3backfill/s3backfill/internal/checksum"
)

// checksumAlgorithms are the flexible checksums S3 computes.
var checksumAlgorithms = checksum.Algorithms

// Checksum is the x-amz-checksum-<alg> value S3 computes for data (alg:
// CRC32, CRC32C, CRC64NVME, SHA1 or SHA256), base64.
func Checksum(alg string, data []byte) string { return checksum.Of(alg, data) }

// checksumHeader is the header of an algorithm's checksum.
func checksumHeader(alg string) string {
	return http.CanonicalHeaderKey("x-amz-checksum-" + strings.ToLower(alg))
}

// Checksum types.
const (
	fullObject = "FULL_OBJECT"
	composite  = "COMPOSITE"
)

// setChecksum stores (and answers) one checksum and its type.
func setChecksum(h http.Header, alg, value, typ string) {
	if alg == "" {
		return
	}
	h.Set(checksumHeader(alg), value)
	h.Set("X-Amz-Checksum-Type", typ)
}

// checksumOf returns the algorithm and value of the checksum in h, if any.
func checksumOf(h http.Header) (alg, value string) {
	for _, a := range checksumAlgorithms {
		if v := h.Get(checksumHeader(a)); v != "" {
			return a, v
		}
	}
	return "", ""
}

// payloadChecksum checks the integrity headers of a request with a body
// (PutObject, UploadPart): Content-MD5 and an x-amz-checksum-<alg> header
// or trailer must match the content. It returns the algorithm to keep:
// the one sent, else the one the request asks for, else want.
func payloadChecksum(r Request, want string) (alg string, rep *Reply) {
	if m := r.Header.Get("Content-MD5"); m != "" {
		raw, err := base64.StdEncoding.DecodeString(m)
		if err != nil || len(raw) != md5.Size {
			return "", Error(http.StatusBadRequest, "InvalidDigest")
		}
		if sum := md5.Sum(r.Content); string(raw) != string(sum[:]) {
			return "", Error(http.StatusBadRequest, "BadDigest")
		}
	}
	for _, a := range checksumAlgorithms {
		sent := r.Header.Get(checksumHeader(a))
		if sent == "" && r.Trailer != nil {
			sent = r.Trailer.Get(checksumHeader(a))
		}
		if sent == "" {
			continue
		}
		if got := Checksum(a, r.Content); got != sent {
			return "", errorReply(http.StatusBadRequest, "BadDigest",
				fmt.Sprintf("The %s you specified did not match the calculated checksum.", strings.ToLower(a)))
		}
		return a, nil
	}
	for _, name := range []string{"X-Amz-Sdk-Checksum-Algorithm", "X-Amz-Checksum-Algorithm"} {
		if a := strings.ToUpper(r.Header.Get(name)); a != "" {
			return requestedAlgorithm(a)
		}
	}
	return want, nil
}

// requestedAlgorithm checks an algorithm a request names.
func requestedAlgorithm(alg string) (string, *Reply) {
	alg = strings.ToUpper(alg)
	if alg != "" && !slices.Contains(checksumAlgorithms, alg) {
		return "", errorReply(http.StatusBadRequest, "InvalidRequest", "Checksum algorithm "+alg+" is not supported")
	}
	return alg, nil
}

// compositeChecksum is the checksum of checksums S3 gives a multipart
// object: the checksum of the parts' decoded checksums, "-N".
func compositeChecksum(alg string, parts []string) string {
	var raw []byte
	for _, p := range parts {
		b, _ := base64.StdEncoding.DecodeString(p)
		raw = append(raw, b...)
	}
	return fmt.Sprintf("%s-%d", Checksum(alg, raw), len(parts))
}
