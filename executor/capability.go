package executor

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aws/smithy-go"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/planner"
)

// Capabilities learned, not assumed: an endpoint may not implement a
// server-side copy of an encrypted source (Ceph RGW answers 501
// NotImplemented to a CopyObject of an SSE-C or SSE-KMS source, yet copies
// its parts with UploadPartCopy). Under --copy-mode auto, such a version is
// copied by the next way that works: server-side in parts, else through
// this machine (GET and upload); the rest of its class on that endpoint
// goes the same way for the run, without asking again. Under server, a
// version no server-side copy can make fails saying why.

// noServerCopy remembers the server-side copies the destination endpoint
// does not make: of a source encryption (by its name), by CopyObject only
// (copyObjectOf), or rekeyParts.
type noServerCopy struct {
	mu   sync.Mutex
	what map[string]bool
}

// rekeyParts: copying parts of an SSE-C source under another key. Ceph RGW
// ignores the copy-source key of an UploadPartCopy and decrypts with the
// replica's, answering 400 InvalidArgument ("The calculated MD5 hash of
// the key did not match").
const rekeyParts = "re-keyed SSE-C parts"

func (n *noServerCopy) has(what string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.what[what]
}

func (n *noServerCopy) learn(what string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.what == nil {
		n.what = map[string]bool{}
	}
	n.what[what] = true
}

// copyObjectOf: copying whole sources of an encryption with CopyObject.
func copyObjectOf(t planner.Task) string { return "CopyObject of " + string(t.Encryption) }

// CodeNotImplemented is S3's code for a feature an endpoint lacks.
const CodeNotImplemented = "NotImplemented"

// notImplemented reports an answer saying the endpoint does not implement
// the request.
func notImplemented(err error) bool {
	var api smithy.APIError
	return s3err.Status(err) == 501 || (errors.As(err, &api) && api.ErrorCode() == CodeNotImplemented)
}

// encryptedSource: a source whose server-side copy an endpoint may lack.
func encryptedSource(t planner.Task) bool {
	switch t.Encryption {
	case planner.SSEC, planner.SSEKMS, planner.DSSEKMS:
		return true
	}
	return false
}

// noServerCopyReason says why a version was streamed, or failed.
func noServerCopyReason(t planner.Task) string {
	return fmt.Sprintf("this endpoint does not implement server-side copy of %s sources", t.Encryption)
}

// noCopyObjectReason says why a version was copied in parts.
func noCopyObjectReason(t planner.Task) string {
	return fmt.Sprintf("this endpoint does not implement CopyObject of %s sources", t.Encryption)
}

const rekeyPartsReason = "this endpoint does not re-key SSE-C sources in server-side copies of parts"

// rekeys reports a copy of an SSE-C source whose replica is under another
// key (or not SSE-C).
func rekeys(t planner.Task, k sse.Keys) bool {
	return t.Encryption == planner.SSEC && k.Src != nil && (k.Dst == nil || k.Dst.ID != k.Src.ID)
}

// partKeyRefused reports RGW's answer to an UploadPartCopy that re-keys
// (see rekeyParts): 400 InvalidArgument. The source key was proven on the
// source before the copy, so the endpoint, not the key, is at fault.
func partKeyRefused(err error) bool {
	var op *smithy.OperationError
	code, status, _ := s3err.Classify(err)
	return errors.As(err, &op) && op.Operation() == "UploadPartCopy" && status == 400 && code == "InvalidArgument"
}
