// Package executor copies planned versions to the destination: CopyObject,
// multipart UploadPartCopy for large objects, DELETE to replay delete
// markers, and streamed GET+upload where a server-side copy cannot work.
// Keys run in parallel, the versions of one key serially and oldest first,
// so the replica's version history keeps the source's order.
//
// It records every outcome through the Store it is given (it does not
// import the checkpoint), classifies each S3 error once (permanent,
// retryable, fatal for the run), and never retries on top of the SDK's
// retryer: retrying across runs is the checkpoint's job.
package executor
