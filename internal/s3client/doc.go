// Package s3client builds the S3 clients of a job: credentials from the
// SDK's default chain (or a profile), custom endpoints with path-style
// addressing, a CA bundle, the one retry policy of the program, and the
// traffic middleware that caps requests in flight and their rate and
// counts them for progress and status.
//
// It makes no S3 calls of its own.
package s3client
