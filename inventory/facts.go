package inventory

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// What a HEAD of a version tells: its encryption, Bucket Key, replication
// status, checksum and archive tier.

// read takes what a successful HEAD says.
func read(out *s3.HeadObjectOutput, ins *planner.Inspection) {
	ins.Inspected, ins.From = true, planner.FactsHead
	ins.Encryption = planner.EncryptionOf(string(out.ServerSideEncryption), aws.ToString(out.SSECustomerAlgorithm))
	ins.KMSKeyID = aws.ToString(out.SSEKMSKeyId)
	ins.BucketKey = aws.ToBool(out.BucketKeyEnabled)
	ins.ReplicationStatus = string(out.ReplicationStatus)
	ins.Checksum = ChecksumOf(out, "")
	ins.Lock = planner.ObjectLock{Mode: string(out.ObjectLockMode), RetainUntil: aws.ToTime(out.ObjectLockRetainUntilDate).UTC(),
		LegalHold: out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn}
	if out.ObjectLockRetainUntilDate == nil {
		ins.Lock.RetainUntil = time.Time{}
	}
	restored := strings.Contains(aws.ToString(out.Restore), `ongoing-request="false"`)
	switch {
	case out.StorageClass == types.StorageClassGlacier || out.StorageClass == types.StorageClassDeepArchive:
		ins.Archived = !restored
	case out.ArchiveStatus != "":
		ins.Archived = !restored
	}
}

// ChecksumOf is the checksum a HEAD (asked with ChecksumMode=ENABLED)
// reports: of the algorithm prefer if it has that one, else the first it
// has, strongest first.
func ChecksumOf(h *s3.HeadObjectOutput, prefer string) planner.Checksum {
	all := []struct {
		alg string
		v   *string
	}{
		{"SHA256", h.ChecksumSHA256}, {"SHA1", h.ChecksumSHA1}, {"CRC64NVME", h.ChecksumCRC64NVME},
		{"CRC32C", h.ChecksumCRC32C}, {"CRC32", h.ChecksumCRC32},
	}
	var first planner.Checksum
	for _, c := range all {
		v := aws.ToString(c.v)
		if v == "" {
			continue
		}
		cs := planner.Checksum{Algorithm: c.alg, Value: v, Type: string(h.ChecksumType)}
		if cs.Type == "" && compositeValue(v) {
			// Some servers leave the type out; a composite value ends in
			// "-<parts>" like a multipart ETag.
			cs.Type = "COMPOSITE"
		}
		if c.alg == prefer {
			return cs
		}
		if first.Algorithm == "" {
			first = cs
		}
	}
	return first
}

// compositeValue reports the "<base64>-<parts>" form of a checksum of
// parts.
func compositeValue(v string) bool {
	i := strings.LastIndexByte(v, '-')
	if i < 0 || i == len(v)-1 {
		return false
	}
	for _, r := range v[i+1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
