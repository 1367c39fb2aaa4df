package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"5MiB", 5 << 20}, {"64MB", 64e6}, {"1GiB", 1 << 30}, {"1.5GiB", 3 << 29}, {"1048576", 1 << 20},
		{"16 mib", 16 << 20}, {"0", 0}, {"2KB", 2000}, {"7B", 7},
	} {
		got, err := parseSize("part-size", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "5 parsecs", "-1MiB", "1e400", "NaN", "5Mi"} {
		if _, err := parseSize("part-size", bad); err == nil || !strings.Contains(err.Error(), "--part-size") {
			t.Errorf("parseSize(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1KiB", 5 << 20: "5MiB", 3 << 29: "1.5GiB"} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""}, {"s3://b/", "b", ""}, {"s3://b/photos", "b", "photos/"}, {"s3://b/a/b/", "b", "a/b/"},
	} {
		l, err := parseS3URL("source", tc.in)
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix {
			t.Errorf("parseS3URL(%q) = %+v, %v", tc.in, l, err)
		}
	}
	for _, bad := range []string{"b/photos", "s3://", "s3:///x", "https://b"} {
		if _, err := parseS3URL("source", bad); err == nil {
			t.Errorf("parseS3URL(%q) took it", bad)
		}
	}
}

func TestEncodeKey(t *testing.T) {
	for in, want := range map[string]string{
		"a/b c.txt":     "a/b%20c.txt",
		"a+b%c?d#e&f":   "a%2Bb%25c%3Fd%23e%26f",
		"ü":             "%C3%BC",
		"x,y\"z\n":      "x%2Cy%22z%0A",
		"names//double": "names//double",
		"safe-_.~":      "safe-_.~",
	} {
		if got := encodeKey(in); got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

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
		{"no db", []string{"status"}, "db"},
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
