// Package storetest is the conformance suite of job.Store: one set of
// tests that every checkpoint backend (checkpoint.DB on SQLite today, a
// PostgreSQL backend later) must pass, so that a job behaves the same on
// any of them.
//
// Each promise the contract makes (the docs of job.Store and
// executor.Store) is a subtest named after it: a failure says which promise
// the backend broke. The suite drives a backend only through the Store
// methods, plus the Backend hooks that open, close and crash a store, so
// it checks behaviour, never a schema.
//
// A backend's own test calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{New: ..., Open: ..., Close: ..., Crash: ...})
//	}
//
// What a backend keeps beyond the contract (file locks, migrations,
// read-only opening, SQL that must match an index) is tested by the
// backend's own package.
package storetest
