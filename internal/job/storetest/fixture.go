package storetest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// OldCheckpoint copies the checkpoint written by the release at 9b97cbf
// (checkpoint/testdata: migrations 0001 to 0003, one job src/data ->
// dst/backup with a row in every state) under t.TempDir() and returns the
// copy's path, so that no test changes the one kept in the repository.
func OldCheckpoint(t testing.TB) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("storetest: cannot find its own source")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "checkpoint", "testdata", "checkpoint-9b97cbf.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
