// Package job runs an s3backfill job over its parts: the checks before
// copying (Check), the listing of the source into the checkpoint (Scan),
// inspection and planning (Plan), the copies (Copy), verify, the report,
// status and cleanup. It works from parsed Settings and the Deps it is
// given — S3 clients, the checkpoint through the Store contract, the key
// ring, a logger, a progress sink and a clock — so that anything can build
// a job, not only the command line.
//
// It does not parse flags, build clients, print or choose exit codes
// (package main does), and it holds no SQL (package checkpoint does).
package job
