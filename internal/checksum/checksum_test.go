package checksum

import "testing"

// The values S3 documents or answers for "hello world" (base64 of the
// big-endian digest).
func TestOf(t *testing.T) {
	data := []byte("hello world")
	for alg, want := range map[string]string{
		"CRC32":     "DUoRhQ==",
		"CRC32C":    "yZRlqg==",
		"CRC64NVME": "jSnVw/bqjr4=",
		"SHA1":      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
		"SHA256":    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
	} {
		if got := Of(alg, data); got != want {
			t.Errorf("%s = %s, want %s", alg, got, want)
		}
	}
	if got := Of("MD4", data); got != "" {
		t.Errorf("an unknown algorithm gave %q", got)
	}
	if got, want := MD5(data), "XrY7u+Ae7tCTyyK7j1rNww=="; got != want {
		t.Errorf("MD5 = %s, want %s", got, want)
	}
}
