// Package checksum computes S3's flexible checksums (x-amz-checksum-*) and
// Content-MD5 the way S3 writes them: base64 of the big-endian digest.
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

// Algorithms are the flexible checksums S3 computes.
var Algorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	crc64NVME  = crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reflected polynomial
)

// New is a hash of algorithm alg (one of Algorithms); nil for another.
func New(alg string) hash.Hash {
	switch alg {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(castagnoli)
	case "CRC64NVME":
		return crc64.New(crc64NVME)
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	return nil
}

// Of is the x-amz-checksum-<alg> value of data; "" for an algorithm S3
// does not compute.
func Of(alg string, data []byte) string {
	h := New(alg)
	if h == nil {
		return ""
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// MD5 is the Content-MD5 value of data.
func MD5(data []byte) string {
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}
