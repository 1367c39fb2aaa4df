package job

import (
	"fmt"
	"os"

	"github.com/s3backfill/s3backfill/planner"
)

// ReadKeyFile reads and validates the SSE-C key file at path. warning is
// not empty when the file can be read by other users.
func ReadKeyFile(path string) (ring *planner.KeyRing, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", UsageError{fmt.Errorf("key file: %w", err)}
	}
	defer f.Close()
	ring, err = planner.ParseKeyFile(f)
	if err != nil {
		return nil, "", UsageError{fmt.Errorf("key file %s: %w", path, err)}
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		warning = "the key file can be read by other users; chmod 600 it"
	}
	return ring, warning, nil
}
