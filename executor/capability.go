package executor

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aws/smithy-go"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/planner"
)

// Capabilities learned, not assumed: an endpoint may not implement a
// server-side copy of an encrypted source (Ceph RGW answers 501
// NotImplemented to a CopyObject of an SSE-C or SSE-KMS source). Under
// --copy-mode auto, such a version is copied through this machine (GET and
// upload) instead, and so is the rest of its class on that endpoint for
// the run, without asking again; under server, it fails saying why.

// noServerCopy remembers the source encryptions the destination endpoint
// does not copy server-side.
type noServerCopy struct {
	mu  sync.Mutex
	enc map[planner.Encryption]bool
}

func (n *noServerCopy) has(e planner.Encryption) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.enc[e]
}

func (n *noServerCopy) learn(e planner.Encryption) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.enc == nil {
		n.enc = map[planner.Encryption]bool{}
	}
	n.enc[e] = true
}

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
