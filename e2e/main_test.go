// Package e2e drives the s3backfill binary as a user would, against the
// local lab (scripts/lab: MinIO over TLS with a KES key server). The binary
// is built once per test run.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

var binary string // the built s3backfill

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3backfill-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3backfill")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building s3backfill:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("s3backfill %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// outputs collects everything every run printed, for the secrets check.
type outputs struct {
	mu  sync.Mutex
	all bytes.Buffer
}

func (o *outputs) add(r result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.WriteString(r.stdout)
	o.all.WriteString(r.stderr)
}

// tool runs the binary to the end with the lab's environment.
func tool(t *testing.T, lab *labenv.Lab, out *outputs, args ...string) result {
	t.Helper()
	return toolEnv(t, lab, out, nil, args...)
}

// toolEnv is tool with env set over the lab's environment.
func toolEnv(t *testing.T, lab *labenv.Lab, out *outputs, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), lab.Env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running s3backfill: %v", err)
	}
	if out != nil {
		out.add(r)
	}
	return r
}

// jobFiles are a job's database and report, in a new temporary directory.
func jobFiles(t *testing.T) (db, report string) {
	dir := t.TempDir()
	return filepath.Join(dir, "job.db"), filepath.Join(dir, "report.csv")
}

// start runs the binary in the background; the caller waits or kills it.
func start(t *testing.T, lab *labenv.Lab, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return startEnv(t, lab, nil, args...)
}

// startEnv is start with env set over the lab's environment.
func startEnv(t *testing.T, lab *labenv.Lab, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), lab.Env...), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting s3backfill: %v", err)
	}
	return cmd, &buf
}
