// Package checkpoint is the job's single source of truth: the job's
// settings, one row per source version and destination with its plan and
// outcome, the scans that found them, the multipart uploads in progress
// with their finished parts, and each run's request traffic.
//
// It keeps them in one SQLite file (WAL), the default, or in a PostgreSQL
// database (--db postgres://…), one schema per job (--job), so that one
// server holds many jobs. The statements are written once for both (see
// conn.go); only the migrations are each backend's own.
//
// It owns all SQL and is the only importer of database/sql, go-sqlite3 and
// pgx. Outcomes are written through one batching writer; a row is marked
// "copying" (durably) before its copy starts, so after a crash the next run
// knows exactly which versions were in flight and checks the destination
// for them instead of copying them again. It never stores key material:
// only SSE-C key ids.
package checkpoint
