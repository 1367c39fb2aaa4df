package executor

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// keys are the resolved SSE-C keys of one task: src opens the source
// version, dst encrypts the replica. Either may be nil. The helpers below
// are the only places that put key material on a request, one per request
// type.
type keys struct{ src, dst *planner.Key }

const aes256 = "AES256"

// replicaSSE is the server-side encryption the replica asks for, with a
// KMS key id where the class needs one and whether to use a Bucket Key.
type replicaSSE struct {
	enc       planner.Encryption
	kmsKeyID  string
	bucketKey bool
}

func replicaSSEOf(t Task) replicaSSE {
	return replicaSSE{t.ReplicaEncryption, t.ReplicaKMSKeyID, t.ReplicaBucketKey}
}

// bucketKeyEnabled is the BucketKeyEnabled value to send: only ever true,
// and only for SSE-KMS (DSSE-KMS cannot use a Bucket Key).
func (r replicaSSE) bucketKeyEnabled() *bool {
	if r.bucketKey && r.enc == planner.SSEKMS {
		return aws.Bool(true)
	}
	return nil
}

func (r replicaSSE) sse() (types.ServerSideEncryption, *string) {
	switch r.enc {
	case planner.SSES3:
		return types.ServerSideEncryptionAes256, nil
	case planner.SSEKMS:
		return types.ServerSideEncryptionAwsKms, aws.String(r.kmsKeyID)
	case planner.DSSEKMS:
		return types.ServerSideEncryptionAwsKmsDsse, aws.String(r.kmsKeyID)
	}
	return "", nil
}

func (k keys) applyCopyObject(in *s3.CopyObjectInput, r replicaSSE) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	setCustomerKey(&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5, k.src)
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

func (k keys) applyCreateMultipart(in *s3.CreateMultipartUploadInput, r replicaSSE) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

func (k keys) applyUploadPartCopy(in *s3.UploadPartCopyInput) {
	setCustomerKey(&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5, k.src)
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

func (k keys) applyComplete(in *s3.CompleteMultipartUploadInput) {
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

// applyHeadSource opens the source version.
func (k keys) applyHeadSource(in *s3.HeadObjectInput) {
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.src)
}

// applyHeadReplica opens the replica.
func (k keys) applyHeadReplica(in *s3.HeadObjectInput) {
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

func (k keys) applyGetSource(in *s3.GetObjectInput) {
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.src)
}

func (k keys) applyPutObject(in *s3.PutObjectInput, r replicaSSE) {
	in.ServerSideEncryption, in.SSEKMSKeyId = r.sse()
	in.BucketKeyEnabled = r.bucketKeyEnabled()
	setCustomerKey(&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, k.dst)
}

// setCustomerKey fills one triple of SSE-C headers from a validated key.
func setCustomerKey(alg, key, md5 **string, k *planner.Key) {
	if k == nil {
		return
	}
	*alg = aws.String(aes256)
	*key = aws.String(k.Base64())
	*md5 = aws.String(k.MD5())
}
