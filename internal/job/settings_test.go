package job

import (
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
		got, err := ParseSize("part-size", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "5 parsecs", "-1MiB", "1e400", "NaN", "5Mi"} {
		if _, err := ParseSize("part-size", bad); err == nil || !strings.Contains(err.Error(), "--part-size") {
			t.Errorf("ParseSize(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1KiB", 5 << 20: "5MiB", 3 << 29: "1.5GiB"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""}, {"s3://b/", "b", ""}, {"s3://b/photos", "b", "photos/"}, {"s3://b/a/b/", "b", "a/b/"},
	} {
		l, err := ParseLocation("source", tc.in)
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix {
			t.Errorf("ParseLocation(%q) = %+v, %v", tc.in, l, err)
		}
	}
	for _, bad := range []string{"b/photos", "s3://", "s3:///x", "https://b"} {
		if _, err := ParseLocation("source", bad); err == nil {
			t.Errorf("ParseLocation(%q) took it", bad)
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
		if got := EncodeKey(in); got != want {
			t.Errorf("EncodeKey(%q) = %q, want %q", in, got, want)
		}
	}
}
