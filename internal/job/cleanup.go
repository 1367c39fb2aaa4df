package job

import (
	"context"
	"time"

	"github.com/s3backfill/s3backfill/executor"
)

// PendingUpload is an incomplete multipart upload cleanup found.
type PendingUpload struct {
	Bucket, Key, UploadID string
	Initiated             time.Time // zero for the job's own (it records no time)
	Ours                  bool      // started by this job, and aborted
}

// Cleanup aborts every unfinished upload this job started (and forgets
// it), then lists the other incomplete uploads under each destination
// without touching them. fn hears of each upload. It returns how many of
// each it found.
func (j *Job) Cleanup(ctx context.Context, fn func(PendingUpload)) (aborted, others int, err error) {
	defer func() { err = j.scrub(err) }()
	ex, err := j.executor(nil)
	if err != nil {
		return 0, 0, err
	}
	ours, err := j.Store.Uploads(ctx)
	if err != nil {
		return 0, 0, err
	}
	mine := map[string]bool{}
	for _, u := range ours {
		if err := ex.AbortUpload(ctx, u.Bucket, u.Key, u.UploadID); err != nil {
			return aborted, others, err
		}
		if err := j.Store.DropUpload(ctx, u.UploadID); err != nil {
			return aborted, others, err
		}
		mine[u.UploadID] = true
		aborted++
		fn(PendingUpload{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID, Ours: true})
	}
	for _, dest := range j.rules.targets() {
		err := ex.ListUploads(ctx, dest, j.rules.destPrefix, func(u executor.PendingUpload) {
			if mine[u.UploadID] {
				return
			}
			others++
			fn(PendingUpload{Bucket: dest, Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated})
		})
		if err != nil {
			return aborted, others, err
		}
	}
	return aborted, others, nil
}
