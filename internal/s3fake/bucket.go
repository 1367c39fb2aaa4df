package s3fake

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// headBucket answers HeadBucket.
func headBucket(*Server, *bucket, Request) *Reply {
	return &Reply{Status: http.StatusOK, Header: Hdr("x-amz-bucket-region", "us-east-1")}
}

// getVersioning answers GetBucketVersioning.
func getVersioning(_ *Server, b *bucket, _ Request) *Reply {
	return marshal(struct {
		XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
		Status  string   `xml:",omitempty"`
	}{Status: b.versioning})
}

// getEncryption answers GetBucketEncryption: the rules set with
// Encryption, or 404 ServerSideEncryptionConfigurationNotFoundError.
func getEncryption(_ *Server, b *bucket, _ Request) *Reply {
	if b.encryption == "" {
		return Error(http.StatusNotFound, "ServerSideEncryptionConfigurationNotFoundError")
	}
	return XML(`<ServerSideEncryptionConfiguration xmlns="` + ns + `">` + b.encryption + `</ServerSideEncryptionConfiguration>`)
}

// getReplication answers GetBucketReplication: the document set with
// Replication, or 404 ReplicationConfigurationNotFoundError.
func getReplication(_ *Server, b *bucket, _ Request) *Reply {
	if b.replication == "" {
		return Error(http.StatusNotFound, "ReplicationConfigurationNotFoundError")
	}
	rep := XML("")
	rep.Body = []byte(b.replication)
	if !strings.HasPrefix(b.replication, "<?xml") {
		rep.Body = []byte(xml.Header + b.replication)
	}
	return rep
}

// getObjectLock answers GetObjectLockConfiguration as S3 does for a bucket
// without Object Lock: 404 ObjectLockConfigurationNotFoundError. (Tests
// that need a lock answer it with a hook.)
func getObjectLock(*Server, *bucket, Request) *Reply {
	return Error(http.StatusNotFound, "ObjectLockConfigurationNotFoundError")
}
