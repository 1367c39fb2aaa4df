package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// lockOwner is the run that holds (or held) a job's lock, as its lock file
// names it: "pid host start" (an older release wrote the pid alone).
type lockOwner struct {
	PID   int
	Host  string
	Start time.Time
}

func thisOwner() lockOwner {
	host, _ := os.Hostname()
	return lockOwner{PID: os.Getpid(), Host: host, Start: time.Now().UTC()}
}

func (o lockOwner) encode() []byte {
	return []byte(fmt.Sprintf("%d %s %s\n", o.PID, strings.ReplaceAll(o.Host, " ", "_"), o.Start.Format(time.RFC3339)))
}

func readOwner(f *os.File) lockOwner {
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	fields := strings.Fields(string(buf[:n]))
	var o lockOwner
	if len(fields) == 0 {
		return o
	}
	var err error
	if o.PID, err = strconv.Atoi(fields[0]); err != nil {
		return lockOwner{} // not what a run writes: nothing is known of its owner
	}
	if len(fields) > 1 {
		o.Host = fields[1]
	}
	if len(fields) > 2 {
		o.Start, _ = time.Parse(time.RFC3339, fields[2])
	}
	return o
}

func (o lockOwner) describe() string {
	s := "pid " + strconv.Itoa(o.PID)
	if o.PID == 0 {
		s = "pid unknown"
	}
	if o.Host != "" {
		s += " on host " + o.Host
	}
	if !o.Start.IsZero() {
		s += ", started " + o.Start.Format(time.RFC3339)
	}
	return s
}

// LockedError is a run refused because another run holds the job: a cron
// wrapper tells "still running" from a failure by it (exit code 5).
type LockedError struct{ Owner lockOwner }

func (e LockedError) Error() string {
	return fmt.Sprintf("another s3backfill run holds this job (%s); wait for it to end, or stop it", e.Owner.describe())
}

// release empties the lock file (the run ended cleanly: nobody is named
// as its owner) and releases the lock.
func release(f *os.File) error {
	_ = f.Truncate(0)
	return f.Close()
}
