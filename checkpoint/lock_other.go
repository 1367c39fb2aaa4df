//go:build !unix

package checkpoint

import "os"

// lockFile opens the lock file without locking it: this platform has no
// flock, so keeping to one run per job is the user's care there.
func lockFile(path string) (*os.File, string, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	return f, "", err
}

func processAlive(int) bool { return false }
