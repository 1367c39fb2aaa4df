package executor

import (
	"fmt"

	"github.com/s3backfill/s3backfill/internal/checksum"
)

// Streamed uploads prove their bytes without optional protocol features.
// The checksum is computed here and sent in a header, never as an
// aws-chunked trailer (Ceph RGW before Reef refuses trailers), and
// Content-MD5, which every S3 server checks, is sent with it until the
// destination has shown that it checks checksums: an answer naming the
// checksum sent. A server that keeps no checksums (RGW) answers none, and
// its uploads keep Content-MD5.

// integrity is what an upload of b sends: the checksum of algorithm alg
// ("" for none) and the Content-MD5 ("" once the destination has shown it
// checks the checksum).
func (e *Executor) integrity(alg string, b []byte) (sum, contentMD5 string) {
	if alg != "" {
		sum = checksum.Of(alg, b)
	}
	if sum == "" || !e.checksums.Load() {
		contentMD5 = checksum.MD5(b)
	}
	return sum, contentMD5
}

// checksumAnswered checks the checksum of algorithm alg a destination answered
// for an upload (what) that sent sent: another value fails the upload; the
// same shows the destination checks checksums.
func (e *Executor) checksumAnswered(what, alg, sent, got string) error {
	switch {
	case got == "" || sent == "":
		return nil
	case got != sent:
		return fmt.Errorf("%s: the server's %s %s is not the %s sent", what, alg, got, sent)
	}
	e.checksums.Store(true)
	return nil
}
