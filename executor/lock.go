package executor

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// Object Lock: S3 replication carries a version's retention (mode and
// retain-until date) and legal hold to its replica when the destination
// bucket has Object Lock. So does the copy, on the CopyObject, the
// CreateMultipartUpload or the streamed PutObject that makes the replica;
// where the destination has none, the outcome says the lock was not
// carried.

// lockHeaders are the x-amz-object-lock-* values of a replica: nil
// pointers where there is nothing to carry, or nowhere to carry it.
type lockHeaders struct {
	mode  types.ObjectLockMode
	until *time.Time
	hold  types.ObjectLockLegalHoldStatus
}

// lockOf is what the copy of t carries of its source's Object Lock.
func (e *Executor) lockOf(t planner.Task) lockHeaders {
	l := t.Lock
	if !l.Locked() || !e.cfg.ObjectLock[t.Dest] {
		return lockHeaders{}
	}
	h := lockHeaders{mode: types.ObjectLockMode(l.Mode)}
	if !l.RetainUntil.IsZero() && l.Mode != "" {
		h.until = aws.Time(l.RetainUntil)
	}
	if l.LegalHold {
		h.hold = types.ObjectLockLegalHoldStatusOn
	}
	return h
}

func (h lockHeaders) applyCopy(in *s3.CopyObjectInput) {
	in.ObjectLockMode, in.ObjectLockRetainUntilDate, in.ObjectLockLegalHoldStatus = h.mode, h.until, h.hold
}

func (h lockHeaders) applyCreate(in *s3.CreateMultipartUploadInput) {
	in.ObjectLockMode, in.ObjectLockRetainUntilDate, in.ObjectLockLegalHoldStatus = h.mode, h.until, h.hold
}

func (h lockHeaders) applyPut(in *s3.PutObjectInput) {
	in.ObjectLockMode, in.ObjectLockRetainUntilDate, in.ObjectLockLegalHoldStatus = h.mode, h.until, h.hold
}

// lockNote is what the outcome says of the source's Object Lock.
func (e *Executor) lockNote(t planner.Task) string {
	l := t.Lock
	if !l.Locked() {
		return ""
	}
	if !e.cfg.ObjectLock[t.Dest] {
		return fmt.Sprintf("; Object Lock not carried: bucket %s has no Object Lock", t.Dest)
	}
	s := "; Object Lock carried:"
	if l.Mode != "" {
		s += fmt.Sprintf(" %s until %s", l.Mode, l.RetainUntil.UTC().Format(time.RFC3339))
	}
	if l.LegalHold {
		s += " legal hold"
	}
	return s
}
