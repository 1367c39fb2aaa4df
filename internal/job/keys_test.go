package job

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadKeyFile(t *testing.T) {
	raw := bytes.Repeat([]byte{0xA7}, 32)
	raw16 := bytes.Repeat([]byte{0x5C}, 16)
	b64 := base64.StdEncoding.EncodeToString
	sum := md5.Sum(raw)
	secrets := []string{b64(raw), b64(raw16), b64(sum[:]), string(raw)}
	noSecret := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s holds key material: %q", what, s)
			}
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(good, []byte(fmt.Sprintf(`{"keys": [{"id": "a", "key": %q}]}`, b64(raw))), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, warning, err := ReadKeyFile(good)
	if err != nil || warning != "" {
		t.Fatalf("ReadKeyFile: %v (warning %q)", err, warning)
	}
	if ring.Len() != 1 || ring.ByID("a").Base64() != b64(raw) {
		t.Fatalf("ReadKeyFile loaded %d keys, key a = %v", ring.Len(), ring.ByID("a"))
	}
	if err := os.Chmod(good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, warning, err := ReadKeyFile(good); err != nil || !strings.Contains(warning, "chmod 600") || !strings.Contains(warning, good) {
		t.Errorf("a key file others can read: %v, warning %q; want a warning", err, warning)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(fmt.Sprintf(`{"keys": [{"id": "a", "key": %q}, {"id": "z", "key": %q}]}`, b64(raw), b64(raw16))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadKeyFile(bad)
	var ue UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("ReadKeyFile accepted a 16-byte key, or not as a usage error: %v", err)
	}
	for _, w := range []string{"key file " + bad + ":", `entry 2: "key" decodes to 16 bytes`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	noSecret("error", err.Error())

	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadKeyFile(empty); err == nil || !strings.Contains(err.Error(), "the file is empty") {
		t.Errorf("ReadKeyFile(empty) = %v, want an error saying the file is empty", err)
	}

	if _, _, err := ReadKeyFile(dir); !errors.As(err, &ue) || !strings.Contains(err.Error(), "is a directory, want a JSON key file") {
		t.Errorf("ReadKeyFile(a directory) = %v, want a usage error saying it is a directory", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadKeyFile(fifo); !errors.As(err, &ue) || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("ReadKeyFile(a FIFO) = %v, want a usage error saying it is not a regular file", err)
	}

	_, _, err = ReadKeyFile(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(fmt.Sprint(err), "key file:") {
		t.Errorf("ReadKeyFile(missing) = %v, want fs.ErrNotExist starting with %q", err, "key file:")
	}
}
