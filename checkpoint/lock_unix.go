//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path, so that two runs of one job
// never copy the same versions at once. The lock goes with the process: a
// crash (kill -9) releases it. The file names its owner (pid, host, start)
// for the message another run prints; a run that ends cleanly empties it,
// so that an owner still named there ended without doing so: note says so.
func lockFile(path string) (f *os.File, note string, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", err
	}
	prev := readOwner(f)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, "", LockedError{Owner: prev}
		}
		return nil, "", fmt.Errorf("lock %s: %w", path, err)
	}
	if prev.PID != 0 {
		gone := ""
		if host, _ := os.Hostname(); prev.Host == host && !processAlive(prev.PID) {
			gone = fmt.Sprintf("; pid %d is gone", prev.PID)
		}
		note = fmt.Sprintf("the last run of this job (%s) ended without releasing it (killed, or its machine stopped%s); taking over",
			prev.describe(), gone)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(thisOwner().encode(), 0)
	}
	return f, note, nil
}

// processAlive reports whether a process with that pid runs on this host.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
