package checkpoint

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/job/storetest"
)

// TestConformance holds the SQLite checkpoint to job.Store's contract.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) (job.Store, string) {
			path := filepath.Join(t.TempDir(), "job.db")
			return openConformance(t, path), path
		},
		Open:  func(t *testing.T, path string) job.Store { return openConformance(t, path) },
		Close: func(s job.Store) error { return s.(*DB).Close() },
		// A killed process: the outcome writer's batch is lost, the
		// connections and the lock go.
		Crash: func(s job.Store) error { return s.(*DB).crash() },
	})
}

// openConformance opens the checkpoint at path for the suite.
func openConformance(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Outcomes are committed by Flush, Close or a full batch only, never
	// by the timer: a crash then surely loses every outcome not flushed.
	db.batchDelay = time.Hour
	return db
}
