// Package planner decides what happens to each source version: which
// encryption the replica gets, which SSE-C key opens the source and which key
// encrypts the replica, whether the version is copied in one request or in
// parts, replayed as a delete marker, skipped by rule, or failed.
//
// It is pure: no I/O, no SDK client, no database. Feed it what the inventory
// found and the rules of the job; it returns decisions. The key file parser
// lives here too, because resolving SSE-C keys is a planning decision; the
// key material it holds is redacted wherever it could be printed.
package planner
