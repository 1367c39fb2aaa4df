package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"s3backfill"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestUsageErrors: bad input is refused with exit code 2 and a message
// that says what to fix, before anything is contacted.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "job.db")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	badKeys := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badKeys, []byte(`{"keys":[{"id":"a","key":"`+key+`"},{"id":"b","key":"`+key+`","replica_key":"nope"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--db", db, "--endpoint-url", "https://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", append([]string{"run", "--dest", "s3://d"}, base...), "--source and --dest (or --replication-config) are needed"},
		{"bad url", append([]string{"run", "--source", "b", "--dest", "s3://d"}, base...), "want s3://BUCKET"},
		{"bad size", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-size", "big"}, base...), "--part-size"},
		{"bad endpoint", []string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--endpoint-url", "--ca-bundle", "ca.pem"}, `--endpoint-url "--ca-bundle": want a URL`},
		{"copy mode", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--copy-mode", "fast"}, base...), `--copy-mode "fast": want auto, server or stream`},
		{"part layout", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-layout", "even"}, base...), `--part-layout "even": want source or size`},
		{"small part", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-size", "1MiB"}, base...), "--part-size must be between"},
		{"kms without key", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--replicate-kms"}, base...), "--replica-kms-key-id"},
		{"overlap", append([]string{"run", "--source", "s3://s", "--dest", "s3://s/copy"}, base...), "overlap"},
		{"key file", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--keys", badKeys}, base...), `entry 2 (id "b"): replica_key names no entry`},
		{"missing key file", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--keys", filepath.Join(dir, "none.json")}, base...), "key file"},
		{"unknown flag", []string{"run", "--db", db, "--frobnicate"}, "frobnicate"},
		{"no db", []string{"status"}, "--db FILE is needed: the job's checkpoint"},
		{"log level", append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--log-level", "loud"}, base...), "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q in the output\nstdout: %s\nstderr: %s", code, exitUsage, tc.want, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, key) {
				t.Errorf("key material in the output")
			}
		})
	}
}

// TestJobCannotChangeBuckets: the checkpoint is one job; another source or
// destination needs another --db.
func TestJobCannotChangeBuckets(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	db := filepath.Join(t.TempDir(), "job.db")
	// --dry-run against an endpoint nobody listens on fails at the scan,
	// after the settings are stored.
	code, _, stderr := runCLI(t, "run", "--source", "s3://s", "--dest", "s3://d", "--db", db,
		"--endpoint-url", "https://127.0.0.1:1", "--dry-run")
	if code != exitFatal {
		t.Fatalf("first run: exit %d, want %d (nothing listens)\n%s", code, exitFatal, stderr)
	}
	code, _, stderr = runCLI(t, "run", "--source", "s3://other", "--db", db)
	if code != exitUsage || !strings.Contains(stderr, "cannot change its --source") {
		t.Errorf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	code, stdout, stderr := runCLI(t, "status", "--db", db)
	if code != exitOK || !strings.Contains(stdout, "s3://s -> s3://d") {
		t.Errorf("status: exit %d\n%s%s", code, stdout, stderr)
	}
}
