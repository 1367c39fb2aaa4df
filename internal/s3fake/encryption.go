package s3fake

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
)

// Server-side encryption headers.
const (
	hSSE           = "X-Amz-Server-Side-Encryption"
	hKMSKeyID      = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
	hBucketKey     = "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"
	ssecPrefix     = "X-Amz-Server-Side-Encryption-Customer-"
	copySSECPrefix = "X-Amz-Copy-Source-Server-Side-Encryption-Customer-"
	hSSECAlgorithm = ssecPrefix + "Algorithm"
	hSSECKeyMD5    = ssecPrefix + "Key-Md5"
)

// awsManagedKey stands for the aws/s3 key S3 uses for SSE-KMS without a
// key id.
const awsManagedKey = "arn:aws:kms:us-east-1:000000000000:key/aws-s3-managed"

// encryption is how a version (or an upload) is encrypted.
type encryption struct {
	sse       string // AES256, aws:kms, aws:kms:dsse; "" = none or SSE-C
	kmsKeyID  string
	bucketKey bool
	ssecMD5   string // SSE-C: base64 MD5 of the key
}

func (e encryption) kms() bool { return e.sse == "aws:kms" || e.sse == "aws:kms:dsse" }

// opaque reports encryption whose ETags are not the MD5 of the content.
func (e encryption) opaque() bool { return e.kms() || e.ssecMD5 != "" }

// apply sets the headers S3 answers about e (on writes, HEAD and GET).
func (e encryption) apply(h http.Header) {
	if e.sse != "" {
		h.Set(hSSE, e.sse)
	}
	if e.kms() && e.kmsKeyID != "" {
		h.Set(hKMSKeyID, e.kmsKeyID)
	}
	if e.bucketKey {
		h.Set(hBucketKey, "true")
	}
	if e.ssecMD5 != "" {
		h.Set(hSSECAlgorithm, "AES256")
		h.Set(hSSECKeyMD5, e.ssecMD5)
	}
}

// encryptionOf reads the encryption of a stored version from its headers.
func encryptionOf(h http.Header) encryption {
	return encryption{sse: h.Get(hSSE), kmsKeyID: h.Get(hKMSKeyID), bucketKey: h.Get(hBucketKey) == "true",
		ssecMD5: h.Get(hSSECKeyMD5)}
}

// writeEncryption is the encryption of what a write request stores: SSE-C
// when it gives a key, else what x-amz-server-side-encryption asks for,
// else the bucket's default encryption.
func (b *bucket) writeEncryption(h http.Header) (encryption, *Reply) {
	md5, rep := ssecKeyOf(h, ssecPrefix)
	if rep != nil {
		return encryption{}, rep
	}
	sse := h.Get(hSSE)
	switch {
	case md5 != "" && sse != "":
		return encryption{}, errorReply(http.StatusBadRequest, "InvalidArgument",
			"Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
	case md5 != "":
		return encryption{ssecMD5: md5}, nil
	case sse == "":
		return b.defaultEnc, nil
	}
	e := encryption{sse: sse, kmsKeyID: h.Get(hKMSKeyID), bucketKey: h.Get(hBucketKey) == "true"}
	switch {
	case sse != "AES256" && !e.kms():
		return encryption{}, errorReply(http.StatusBadRequest, "InvalidArgument",
			"The encryption method specified is not supported")
	case !e.kms() && e.kmsKeyID != "":
		return encryption{}, errorReply(http.StatusBadRequest, "InvalidArgument",
			"Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
	case e.kms() && e.kmsKeyID == "":
		e.kmsKeyID = awsManagedKey
	}
	e.bucketKey = e.bucketKey && e.sse == "aws:kms"
	return e, nil
}

// ssecKeyOf checks the SSE-C key triple a request gives under prefix and
// returns the key's MD5 ("" when it gives none).
func ssecKeyOf(h http.Header, prefix string) (string, *Reply) {
	alg, key, sum := h.Get(prefix+"Algorithm"), h.Get(prefix+"Key"), h.Get(prefix+"Key-Md5")
	if alg == "" && key == "" && sum == "" {
		return "", nil
	}
	if alg != "AES256" {
		return "", errorReply(http.StatusBadRequest, "InvalidEncryptionAlgorithmError",
			"The encryption request you specified is not valid. The valid value is AES256.")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		return "", errorReply(http.StatusBadRequest, "InvalidArgument",
			"The secret key was invalid for the specified algorithm.")
	}
	got := md5.Sum(raw)
	if base64.StdEncoding.EncodeToString(got[:]) != sum {
		return "", errorReply(http.StatusBadRequest, "InvalidArgument",
			"The calculated MD5 hash of the key did not match the hash that was provided.")
	}
	return sum, nil
}

// checkSSEC checks that a request gives the key an SSE-C version needs
// (under prefix), and no key for any other version: 400 without a key or
// with one the version does not take, 403 with another key.
func checkSSEC(h http.Header, prefix string, v *version) *Reply {
	given, rep := ssecKeyOf(h, prefix)
	if rep != nil {
		return rep
	}
	want := encryptionOf(v.header).ssecMD5
	switch {
	case given == want:
		return nil
	case want == "":
		return errorReply(http.StatusBadRequest, "InvalidRequest",
			"The encryption parameters are not applicable to this object.")
	case given == "":
		return errorReply(http.StatusBadRequest, "InvalidRequest",
			"The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
	}
	return errorReply(http.StatusForbidden, "AccessDenied",
		"The provided customer key does not match the key the object was encrypted with.")
}
