// Package s3fake is the one S3 test double of s3backfill: a small,
// in-memory, versioned S3 served over TLS that answers the requests of the
// real SDK as the S3 API reference documents them, and records every
// request with the reply it got.
//
// Its one job is to let tests drive real *s3.Client's (and the real binary)
// against a server whose state and answers they control: buckets and
// object versions are seeded with CreateBucket and Put, requests change
// that state as S3 would (copies, uploads, delete markers), and a hook
// (SetHook) may answer any request instead, for faults and exact-shape
// answers. Tests then assert on the request log (Requests, Ops, Only) and
// on the state (Versions, Uploads).
//
// Addressing is path style (https://host/bucket/key). Signatures are not
// checked; the access key id of a request names its client. What S3 does
// that the fake does not (delimiters in listings, ACLs, object lock,
// conditional requests, ...) is answered 501 NotImplemented or ignored, as
// each handler says.
package s3fake
