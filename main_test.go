package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/checkpoint"
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
	key2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	badKeys := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badKeys, []byte(`{"keys":[{"id":"a","key":"`+key+`"},{"id":"b","key":"`+key2+`","replica_key":"nope"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	goodKeys := filepath.Join(dir, "good.json")
	if err := os.WriteFile(goodKeys, []byte(`{"keys":[{"id":"a","key":"`+key+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(emptyFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(bytes.Repeat([]byte{7}, 32))
	keyMD5 := base64.StdEncoding.EncodeToString(sum[:])
	base := []string{"--db", db, "--endpoint-url", "https://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		env  []string // NAME=VALUE
		args []string
		want string
	}{
		{"keys over http", nil, []string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--endpoint-url", "http://127.0.0.1:1", "--keys", goodKeys},
			"SSE-C keys are sent over https only"},
		{"keys over http from the environment", []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"},
			[]string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--region", "us-east-1", "--keys", goodKeys},
			"(from AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or the profile's endpoint_url) is http"},
		{"credentials in the endpoint", nil, []string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--endpoint-url", "https://user:hunter2@127.0.0.1:1"},
			"holds user info: credentials belong in the credential chain"},
		{"credentials in the endpoint from the environment", []string{"AWS_ENDPOINT_URL=https://user:hunter2@127.0.0.1:1"},
			[]string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--region", "us-east-1"}, "holds user info"},
		{"the same endpoint spelt twice", nil, append([]string{"run", "--source", "s3://s/a", "--dest", "s3://s/a/b",
			"--source-endpoint-url", "https://H:443/", "--dest-endpoint-url", "https://h"}, base...), "overlap"},
		{"no source", nil, append([]string{"run", "--dest", "s3://d"}, base...), "--source and --dest (or --replication-config) are needed"},
		{"bad url", nil, append([]string{"run", "--source", "b", "--dest", "s3://d"}, base...), "want s3://BUCKET"},
		{"bad size", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-size", "big"}, base...), "--part-size"},
		{"bad endpoint", nil, []string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db, "--endpoint-url", "--ca-bundle", "ca.pem"}, `--endpoint-url "--ca-bundle": want a URL`},
		{"copy mode", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--copy-mode", "fast"}, base...), `--copy-mode "fast": want auto, server or stream`},
		{"part layout", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-layout", "even"}, base...), `--part-layout "even": want source or size`},
		{"small part", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--part-size", "1MiB"}, base...), "--part-size must be between"},
		{"kms without key", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--replicate-kms"}, base...), "--replica-kms-key-id"},
		{"overlap", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://s/copy"}, base...), "overlap"},
		{"key file", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--keys", badKeys}, base...), `entry 2 (id "b"): replica_key names no entry`},
		{"missing key file", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--keys", filepath.Join(dir, "none.json")}, base...), "key file"},
		{"unknown flag", nil, []string{"run", "--db", db, "--frobnicate"}, "frobnicate"},
		{"no db", nil, []string{"status"}, "--db is needed: the job's checkpoint"},
		{"threshold above 5GiB", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--multipart-threshold", "6GiB"}, base...),
			"--multipart-threshold must be between 5MiB (S3's smallest part) and 5GiB"},
		{"empty replication configuration", nil, append([]string{"run", "--source", "s3://s", "--replication-config", emptyFile}, base...),
			"empty file; want the JSON of aws s3api get-bucket-replication"},
		{"key file is a directory", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--keys", dir}, base...),
			"is a directory, want a JSON key file"},
		{"log level", nil, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--log-level", "loud"}, base...), "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.env {
				name, value, _ := strings.Cut(e, "=")
				t.Setenv(name, value)
			}
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q in the output\nstdout: %s\nstderr: %s", code, exitUsage, tc.want, stdout, stderr)
			}
			for _, secret := range []string{key, key2, keyMD5, "hunter2"} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("secret %q in the output", secret)
				}
			}
			// A usage error on a new checkpoint leaves nothing behind.
			for _, suffix := range []string{"", ".lock", "-wal", "-shm"} {
				if _, err := os.Stat(db + suffix); err == nil {
					t.Errorf("%s left behind", filepath.Base(db+suffix))
				}
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

// TestBadPathsFoundBeforeCopying: a report path that is a directory or
// cannot be written, and a read-only checkpoint, are said plainly before
// anything is copied.
func TestBadPathsFoundBeforeCopying(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	run := func(db string, args ...string) (int, string) {
		code, stdout, stderr := runCLI(t, append([]string{"run", "--source", "s3://s", "--dest", "s3://d", "--db", db,
			"--endpoint-url", "https://127.0.0.1:1"}, args...)...)
		return code, stdout + stderr
	}
	if code, out := run(filepath.Join(dir, "a.db"), "--report", dir); code != exitUsage || !strings.Contains(out, "is a directory; want the path of the CSV file") {
		t.Errorf("--report a directory: exit %d\n%s", code, out)
	}
	missing := filepath.Join(dir, "no", "such", "report.csv")
	if code, out := run(filepath.Join(dir, "b.db"), "--report", missing); code != exitUsage || !strings.Contains(out, "--report "+missing+" cannot be written") {
		t.Errorf("--report in a missing folder: exit %d\n%s", code, out)
	}
	ro := filepath.Join(dir, "ro.db")
	if code, out := run(ro, "--dry-run"); code != exitFatal { // makes the checkpoint (nothing listens)
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	if err := os.Chmod(ro, 0o444); err != nil {
		t.Fatal(err)
	}
	code, out := run(ro)
	if code == exitOK || !strings.Contains(out, "checkpoint "+ro+" is read-only") {
		t.Errorf("a read-only checkpoint: exit %d\n%s", code, out)
	}
	if code, stdout, stderr := runCLI(t, "status", "--db", ro); code != exitOK {
		t.Errorf("status of a read-only checkpoint: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestHTTPToATLSPort: an http:// endpoint that is a TLS port answers 400
// to everything; the checks say which endpoint and suggest https.
func TestHTTPToATLSPort(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	plain := "http://" + strings.TrimPrefix(srv.URL, "https://")
	code, stdout, stderr := runCLI(t, "run", "--source", "s3://s", "--dest", "s3://d", "--db", filepath.Join(t.TempDir(), "j.db"),
		"--endpoint-url", plain, "--dry-run")
	want := "the endpoint " + plain + " answered 400 Bad Request to plain http; is it an https endpoint? try " + srv.URL
	if code != exitFatal || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want %d with %q\n%s%s", code, exitFatal, want, stdout, stderr)
	}
}

// TestOverlapOfResolvedEndpoints: the overlap check also runs on the
// endpoints as resolved from the environment, and compares them as places.
func TestOverlapOfResolvedEndpoints(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_S3", "https://h")
	code, stdout, stderr := runCLI(t, "run", "--source", "s3://s/a", "--dest", "s3://s/a/b", "--db", filepath.Join(t.TempDir(), "j.db"),
		"--source-endpoint-url", "https://H:443/", "--region", "us-east-1")
	if code != exitUsage || !strings.Contains(stderr, "overlap") {
		t.Errorf("exit %d, want %d and the overlap\n%s%s", code, exitUsage, stdout, stderr)
	}
}

// TestKeyFileWarningAlwaysShown: a key file others can read is said on
// stderr whatever the log level.
func TestKeyFileWarningAlwaysShown(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	if err := os.WriteFile(keys, []byte(`{"keys":[{"id":"a","key":"`+key+`"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, stderr := runCLI(t, "run", "--source", "s3://s", "--dest", "s3://d", "--db", filepath.Join(dir, "j.db"),
		"--endpoint-url", "https://127.0.0.1:1", "--keys", keys, "--log-level", "error", "--dry-run")
	if !strings.Contains(stderr, "warning: the key file "+keys+" can be read by other users") || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("stderr does not warn of the key file's mode at --log-level error:\n%s", stderr)
	}
}

// TestLockedExitCode: a run refused because another holds the job exits 5
// (not 1), naming the holder, so that a cron wrapper can tell "still
// running" from a failure.
func TestLockedExitCode(t *testing.T) {
	db := filepath.Join(t.TempDir(), "job.db")
	held, err := checkpoint.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, _, stderr := runCLI(t, "run", "--source", "s3://src", "--dest", "s3://dst", "--db", db, "--endpoint-url", "https://127.0.0.1:1")
	host, _ := os.Hostname()
	if code != exitLocked || !strings.Contains(stderr, fmt.Sprintf("another s3backfill run holds this job (pid %d on host %s, started ", os.Getpid(), host)) {
		t.Errorf("exit %d, stderr %q; want %d naming the holder", code, stderr, exitLocked)
	}
}
