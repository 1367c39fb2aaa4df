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

// clockSkew is how far the server's clock may be behind ours for an upload
// to count as made after an intent was recorded.
const clockSkew = 15 * time.Minute

// Cleanup aborts every unfinished upload this job started, and every upload
// made for an intent whose id was never recorded (a crash between the two),
// and forgets them; then it lists the other incomplete uploads under each
// destination, bucket-wide and for each key the job recorded an upload of
// (MinIO answers a bucket-wide listing with nothing), without touching
// them. fn hears of each upload. It returns how many of each it found.
func (j *Job) Cleanup(ctx context.Context, fn func(PendingUpload)) (aborted, others int, err error) {
	defer func() { err = j.scrub(err) }()
	workers, err := j.Store.Workers(ctx)
	if err != nil {
		return 0, 0, err
	}
	var live int
	for _, w := range workers {
		if w.Alive {
			live++
		}
	}
	if live > 1 { // this process is one of them
		return 0, 0, Usagef("%d other process(es) work this job now; cleanup would abort the uploads they are copying: "+
			"run it when they have stopped (s3backfill status lists them)", live-1)
	}
	ex, err := j.executor(nil, nil)
	if err != nil {
		return 0, 0, err
	}
	ours, err := j.Store.Uploads(ctx)
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	abort := func(bucket, key, uploadID string) error {
		if err := ex.AbortUpload(ctx, bucket, key, uploadID); err != nil {
			return err
		}
		seen[uploadID] = true
		aborted++
		fn(PendingUpload{Bucket: bucket, Key: key, UploadID: uploadID, Ours: true})
		return nil
	}
	type place struct{ bucket, key string }
	var keys []place
	for _, u := range ours {
		keys = append(keys, place{u.Bucket, u.Key})
		if u.UploadID != "" {
			if err := abort(u.Bucket, u.Key, u.UploadID); err != nil {
				return aborted, others, err
			}
		} else {
			var made []executor.PendingUpload
			if err := ex.ListUploads(ctx, u.Bucket, u.Key, func(p executor.PendingUpload) {
				if p.Key == u.Key && !p.Initiated.Before(u.Started.Add(-clockSkew)) {
					made = append(made, p)
				}
			}); err != nil {
				return aborted, others, err
			}
			for _, p := range made {
				if err := abort(u.Bucket, p.Key, p.UploadID); err != nil {
					return aborted, others, err
				}
			}
		}
		if err := j.Store.DropUpload(ctx, u.TaskID); err != nil {
			return aborted, others, err
		}
	}
	other := func(bucket string) func(executor.PendingUpload) {
		return func(u executor.PendingUpload) {
			if seen[u.UploadID] {
				return
			}
			seen[u.UploadID] = true
			others++
			fn(PendingUpload{Bucket: bucket, Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated})
		}
	}
	for _, dest := range j.rules.targets() {
		if err := ex.ListUploads(ctx, dest, j.rules.destPrefix, other(dest)); err != nil {
			return aborted, others, err
		}
	}
	for _, k := range keys {
		if err := ex.ListUploads(ctx, k.bucket, k.key, other(k.bucket)); err != nil {
			return aborted, others, err
		}
	}
	return aborted, others, nil
}
