package executor

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// ReadBack says when a replica is read back (HEAD) after its copy, to
// record what it really is and to check its size and checksum.
type ReadBack string

const (
	// ReadBackAuto (also the zero value) reads a replica back unless the
	// copy's answer told everything the read-back would (answerSuffices).
	ReadBackAuto ReadBack = "auto"
	// ReadBackAlways reads every replica back.
	ReadBackAlways ReadBack = "always"
	// ReadBackNever reads no replica back: what the copy's answer said is
	// recorded, and the size is not checked.
	ReadBackNever ReadBack = "never"
)

// ParseReadBack reads the --read-back flag: auto, always or never (any
// case); empty is auto.
func ParseReadBack(s string) (ReadBack, error) {
	if s == "" {
		return ReadBackAuto, nil
	}
	for _, r := range []ReadBack{ReadBackAuto, ReadBackAlways, ReadBackNever} {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	return "", fmt.Errorf("--read-back must be auto, always or never, not %q", s)
}

// answer is what the answer of the write that made a replica said about
// it besides its version id and ETag (copyResult has those).
type answer struct {
	sse           types.ServerSideEncryption // x-amz-server-side-encryption
	kmsKeyID      string
	ssecAlgorithm string
	// ssecKey: the answer named the replica key's MD5. The MD5 itself is
	// not kept: it identifies the key, and nothing may write it out.
	ssecKey   bool
	checksums checksums
}

// checksums are the checksum fields of an answer.
type checksums struct {
	crc32, crc32c, crc64nvme, sha1, sha256 *string
	typ                                    types.ChecksumType
}

// answerOfCopy is what a CopyObject answer says; its checksums and ETag
// are in CopyObjectResult.
func answerOfCopy(out *s3.CopyObjectOutput, k sse.Keys) *answer {
	a := &answer{sse: out.ServerSideEncryption, kmsKeyID: aws.ToString(out.SSEKMSKeyId),
		ssecAlgorithm: aws.ToString(out.SSECustomerAlgorithm), ssecKey: isReplicaKey(out.SSECustomerKeyMD5, k)}
	if r := out.CopyObjectResult; r != nil {
		a.checksums = checksums{r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA1, r.ChecksumSHA256, r.ChecksumType}
	}
	return a
}

// answerOfComplete is what a CompleteMultipartUpload answer says (it
// names no SSE-C key).
func answerOfComplete(out *s3.CompleteMultipartUploadOutput) *answer {
	return &answer{sse: out.ServerSideEncryption, kmsKeyID: aws.ToString(out.SSEKMSKeyId),
		checksums: checksums{out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumType}}
}

// answerOfUpload is what a streamed upload's answer says (the upload
// manager keeps no SSE-C key of it).
func answerOfUpload(out *manager.UploadOutput) *answer {
	return &answer{sse: out.ServerSideEncryption, kmsKeyID: aws.ToString(out.SSEKMSKeyId),
		checksums: checksums{out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumType}}
}

// isReplicaKey reports whether an answer's SSE-C key MD5 is that of the
// replica's key.
func isReplicaKey(md5 *string, k sse.Keys) bool {
	return k.Dst != nil && aws.ToString(md5) != "" && aws.ToString(md5) == k.Dst.MD5()
}

// checksum is the answer's checksum, of algorithm prefer where it has
// that one; none without an answer.
func (a *answer) checksum(prefer string) planner.Checksum {
	if a == nil {
		return planner.Checksum{}
	}
	c := a.checksums
	return inventory.ChecksumOf(&s3.HeadObjectOutput{ChecksumCRC32: c.crc32, ChecksumCRC32C: c.crc32c,
		ChecksumCRC64NVME: c.crc64nvme, ChecksumSHA1: c.sha1, ChecksumSHA256: c.sha256, ChecksumType: c.typ}, prefer)
}

// record puts the encryption the answer names (if any) on r, in place of
// the one planned. The planned KMS key stands where the answer confirms
// the class but names no key.
func (a *answer) record(r *planner.Replica) {
	if a == nil || (a.sse == "" && a.ssecAlgorithm == "") {
		return
	}
	enc := planner.EncryptionOf(string(a.sse), a.ssecAlgorithm)
	if enc != r.Encryption || a.kmsKeyID != "" {
		r.KMSKeyID = a.kmsKeyID
	}
	r.Encryption = enc
}

// stated is the replica's encryption as the answer names it; ok only when
// it names all a read-back would: the KMS key of SSE-KMS and DSSE-KMS, the
// replica's key for SSE-C. An answer cannot say "unencrypted" (it leaves
// the header out, as servers that do not answer it do), so only a
// read-back tells that.
func (a *answer) stated() (enc planner.Encryption, ok bool) {
	enc = planner.EncryptionOf(string(a.sse), a.ssecAlgorithm)
	switch enc {
	case planner.NotSSE:
		return enc, false
	case planner.SSEKMS, planner.DSSEKMS:
		return enc, a.kmsKeyID != ""
	case planner.SSEC:
		return enc, a.ssecKey
	}
	return enc, true
}

// asksChecksum reports whether a copy asks S3 for the source's checksum
// algorithm: a composite checksum depends on the part layout, so it is
// not asked for.
func asksChecksum(c planner.Checksum) bool { return c.Algorithm != "" && c.Type != "COMPOSITE" }

// answerSuffices reports whether the answer of the write that made a
// replica tells all a read-back would, so that auto need not HEAD it: the
// replica's version, its encryption in full and as planned (any, where
// the destination default applies), a plausible ETag, and the checksum
// the copy asked for.
//
// The size only a read-back tells. Skipping it is safe only when the
// answer proves the content instead: a checksum equal to the source's, or
// an ETag equal to the source's where both are MD5s of the bytes
// (plaintext or SSE-S3, single part; or multipart with the source's parts
// replayed, where the ETag is the MD5 of the parts' MD5s). Anything less,
// and the replica is read back.
func answerSuffices(t planner.Task, res copyResult) bool {
	a := res.answer
	if a == nil || res.versionID == "" || !plausibleETag(res.etag) {
		return false
	}
	enc, ok := a.stated()
	if !ok || (t.ReplicaEncryption != "" && enc != t.ReplicaEncryption) || !sameKMSKey(a.kmsKeyID, t.ReplicaKMSKeyID) {
		return false
	}
	cs := a.checksum(t.Checksum.Algorithm)
	if asksChecksum(t.Checksum) && cs.Algorithm != t.Checksum.Algorithm {
		return false
	}
	if st, _ := planner.CompareChecksums(t.Checksum, cs); st == planner.ChecksumMatch {
		return true
	}
	return etagIsMD5(t.Encryption) && etagIsMD5(enc) && strings.Trim(t.ETag, `"`) == strings.Trim(res.etag, `"`)
}

// etagIsMD5 reports an encryption under which an ETag is an MD5 of the
// bytes (of the parts' MD5s for a multipart object).
func etagIsMD5(e planner.Encryption) bool { return e == planner.NotSSE || e == planner.SSES3 }

// answered records a replica whose copy's answer told all (answerSuffices):
// its ETag and checksum against the source's.
func answered(t planner.Task, o *planner.Outcome, a *answer) {
	compare(t, o, a.checksum(t.Checksum.Algorithm))
	if o.Status == planner.StatusSucceeded {
		o.Message += "; confirmed by its answer, not read back"
	}
}

// notReadBack records a replica under --read-back never: what the copy's
// answer said (nil: there was none, the replica was found on the
// destination), the ETag and checksum compared where known, the size not
// checked.
func notReadBack(t planner.Task, o *planner.Outcome, a *answer) {
	r := &o.Replica
	if r.VersionID == "" {
		// As after a read-back: no answer named the version, so the
		// replica is the key's null version.
		r.VersionID = "null"
	}
	cs := a.checksum(t.Checksum.Algorithm)
	compare(t, o, cs)
	if cs.Algorithm == "" && t.Checksum.Algorithm != "" {
		r.ChecksumStatus = planner.ChecksumNotCompared
		r.ChecksumReason = "the replica was not read back (--read-back never) and no answer gave its checksum"
	}
	if o.Status == planner.StatusSucceeded {
		o.Message += "; replica not read back (--read-back never)"
	}
}

// sameKMSKey reports whether got, the KMS key a replica is under as the
// server names it, may be asked, the key the copy asked for. Servers name
// keys their own way (AWS by ARN, MinIO as arn:aws:kms:ID, Ceph RGW by the
// id as given): the same key is equal, or an ARN or id ending in the
// other. An alias cannot be compared with the key it names, nor can an
// answer that names none: both pass.
func sameKMSKey(got, asked string) bool {
	if got == "" || asked == "" || got == asked || strings.HasPrefix(asked, "alias/") || strings.Contains(asked, ":alias/") {
		return true
	}
	return strings.HasSuffix(got, "/"+asked) || strings.HasSuffix(got, ":"+asked) ||
		strings.HasSuffix(asked, "/"+got) || strings.HasSuffix(asked, ":"+got)
}
