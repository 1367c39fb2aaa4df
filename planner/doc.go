// Package planner decides what happens to each source version: which
// encryption the replica gets, which SSE-C key opens the source and which key
// encrypts the replica, whether the version is copied in one request or in
// parts, replayed as a delete marker, skipped by a rule or a selection
// filter, or failed.
//
// It is pure: no I/O, no SDK client, no database. Feed it what the inventory
// found and the rules of the job; it returns decisions. It also parses and
// validates the inputs those decisions come from: the SSE-C key file (key
// material is redacted wherever it could be printed) and S3 replication
// configurations (the JSON of put-bucket-replication), and it classifies
// ETag and checksum differences between a source and its replica.
package planner
