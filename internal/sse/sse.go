// Package sse puts server-side encryption on S3 requests: the SSE-C key
// headers of the source and of the replica, and the SSE-S3 / SSE-KMS /
// DSSE-KMS headers the replica asks for. Its helpers, one per request type,
// are the only places in s3backfill where key material reaches a request.
package sse

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// Keys are the SSE-C keys of one request: Src opens the source version,
// Dst encrypts (or opens) the replica. Either may be nil.
type Keys struct{ Src, Dst *planner.Key }

// aes256 is the only SSE-C algorithm S3 has.
const aes256 = "AES256"

// Replica is the server-side encryption a replica asks for, with a KMS key
// id where the class needs one and whether to use a Bucket Key.
type Replica struct {
	Encryption planner.Encryption
	KMSKeyID   string
	BucketKey  bool
}

// ReplicaOf is what the planner decided for a task's replica.
func ReplicaOf(d planner.Decision) Replica {
	return Replica{d.ReplicaEncryption, d.ReplicaKMSKeyID, d.ReplicaBucketKey}
}

// bucketKeyEnabled is the BucketKeyEnabled value to send: only ever true,
// and only for SSE-KMS (DSSE-KMS cannot use a Bucket Key).
func (r Replica) bucketKeyEnabled() *bool {
	if r.BucketKey && r.Encryption == planner.SSEKMS {
		return aws.Bool(true)
	}
	return nil
}

func (r Replica) sse() (types.ServerSideEncryption, *string) {
	switch r.Encryption {
	case planner.SSES3:
		return types.ServerSideEncryptionAes256, nil
	case planner.SSEKMS:
		return types.ServerSideEncryptionAwsKms, aws.String(r.KMSKeyID)
	case planner.DSSEKMS:
		return types.ServerSideEncryptionAwsKmsDsse, aws.String(r.KMSKeyID)
	}
	return "", nil
}

// ApplyCopyObject: the replica's encryption, the source key to read it
// and the replica key to write it.
func (k Keys) ApplyCopyObject(in *s3.CopyObjectInput, r Replica) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	set(&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5, k.Src)
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyCreateMultipart: the replica's encryption and key; KMS headers go
// on this request only.
func (k Keys) ApplyCreateMultipart(in *s3.CreateMultipartUploadInput, r Replica) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyUploadPartCopy: the source key on every part, and the replica key.
func (k Keys) ApplyUploadPartCopy(in *s3.UploadPartCopyInput) {
	set(&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5, k.Src)
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyUploadPart: the replica key on every streamed part.
func (k Keys) ApplyUploadPart(in *s3.UploadPartInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyComplete: the replica key.
func (k Keys) ApplyComplete(in *s3.CompleteMultipartUploadInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyListParts: the replica key.
func (k Keys) ApplyListParts(in *s3.ListPartsInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyHeadSource opens the source version.
func (k Keys) ApplyHeadSource(in *s3.HeadObjectInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Src)
}

// ApplyHeadReplica opens the replica.
func (k Keys) ApplyHeadReplica(in *s3.HeadObjectInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyGetSource reads the source version.
func (k Keys) ApplyGetSource(in *s3.GetObjectInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Src)
}

// ApplyGetReplica reads the replica.
func (k Keys) ApplyGetReplica(in *s3.GetObjectInput) {
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// ApplyPutObject: the replica's encryption and key, for a streamed copy.
func (k Keys) ApplyPutObject(in *s3.PutObjectInput, r Replica) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	set(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.Dst)
}

// set fills one triple of SSE-C headers from a validated key.
func set(alg, key, md5 **string, k *planner.Key) {
	if k == nil {
		return
	}
	*alg = aws.String(aes256)
	*key = aws.String(k.Base64())
	*md5 = aws.String(k.MD5())
}
