// Package executor does the job's S3 work on the destination: the checks
// before the first copy (RunPreflight), the copies themselves — CopyObject,
// multipart UploadPartCopy replaying the source's part layout, DELETE to
// replay delete markers, and streamed GET + upload where a server-side copy
// cannot work — the read-back of each replica (unless its copy's answer
// told all, see ReadBack), verify, and the cleanup of unfinished uploads.
// Keys run in parallel, the versions of one key serially and oldest first,
// so the replica's history keeps the source's order.
//
// It records every outcome, and every multipart upload and part as it
// finishes, through the Store it is given (it does not import the
// checkpoint); it classifies each S3 error once (permanent, retryable,
// fatal for the run) and never retries on top of the SDK's retryer:
// retrying across runs is the checkpoint's job.
package executor
