package job

import (
	"fmt"
	"os"

	"github.com/s3backfill/s3backfill/planner"
)

// ReadKeyFile reads and validates the SSE-C key file at path. warning is
// not empty when the file can be read by other users.
func ReadKeyFile(path string) (ring *planner.KeyRing, warning string, err error) {
	// A directory or a FIFO is refused before it is opened (opening a FIFO
	// would wait for a writer).
	if fi, err := os.Stat(path); err == nil {
		if err := regularFile(path, fi); err != nil {
			return nil, "", err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", UsageError{fmt.Errorf("key file: %w", err)}
	}
	defer f.Close()
	// The checks that matter are made on the file opened, not on the name.
	fi, err := f.Stat()
	if err != nil {
		return nil, "", UsageError{fmt.Errorf("key file %s: %w", path, err)}
	}
	if err := regularFile(path, fi); err != nil {
		return nil, "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("the key file %s can be read by other users (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	ring, err = planner.ParseKeyFile(f)
	if err != nil {
		return nil, "", UsageError{fmt.Errorf("key file %s: %w", path, err)}
	}
	return ring, warning, nil
}

// regularFile refuses anything but a regular file.
func regularFile(path string, fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return Usagef("key file %s is a directory, want a JSON key file", path)
	case !fi.Mode().IsRegular():
		return Usagef("key file %s is not a regular file (%v), want a JSON key file", path, fi.Mode().Type())
	}
	return nil
}
