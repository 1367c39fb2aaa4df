package planner_test

import (
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

func TestRulesValidate(t *testing.T) {
	const min = 5 << 20
	tests := []struct {
		name    string
		rules   planner.Rules
		wantErr string // substring; empty: valid
	}{
		{"defaults-like", planner.Rules{MultipartThreshold: 64 << 20}, ""},
		{"threshold at S3's smallest part", planner.Rules{MultipartThreshold: min}, ""},
		{"threshold one byte short", planner.Rules{MultipartThreshold: min - 1}, "got 5242879 bytes"},
		{"zero threshold", planner.Rules{}, "--multipart-threshold must be between 5MiB (S3's smallest part) and 5GiB"},
		{"threshold at the largest CopyObject", planner.Rules{MultipartThreshold: 5 << 30}, ""},
		{"threshold above the largest CopyObject", planner.Rules{MultipartThreshold: 5<<30 + 1}, "and 5GiB (the largest CopyObject), got 5368709121 bytes"},
		{"negative threshold", planner.Rules{MultipartThreshold: -1}, "got -1 bytes"},
		{"kms with key", planner.Rules{MultipartThreshold: min, ReplicateKMS: true, ReplicaKMSKeyID: "arn:aws:kms:eu-west-1:1:key/x"}, ""},
		{"kms without key", planner.Rules{MultipartThreshold: min, ReplicateKMS: true}, "--replicate-kms needs --replica-kms-key-id"},
		{"kms with blank key", planner.Rules{MultipartThreshold: min, ReplicateKMS: true, ReplicaKMSKeyID: " \t"}, "--replica-kms-key-id"},
		{"key without kms is harmless", planner.Rules{MultipartThreshold: min, ReplicaKMSKeyID: "arn:x"}, ""},
		{"delete markers and prefixes", planner.Rules{MultipartThreshold: min, DeleteMarkers: true, SourcePrefix: "a/", DestPrefix: "b/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"photos":        "photos/",
		"photos/":       "photos/",
		"a/b":           "a/b/",
		"a/b/":          "a/b/",
		"/":             "/",
		"photos//":      "photos//",
		"ünï côdé dir":  "ünï côdé dir/",
		"trailing-dash": "trailing-dash/",
	} {
		if got := planner.NormalizePrefix(in); got != want {
			t.Errorf("NormalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDestKey(t *testing.T) {
	tests := []struct {
		key, src, dst, want string
	}{
		{"a/b.txt", "", "", "a/b.txt"},
		{"photos/a.jpg", "photos/", "backup/", "backup/a.jpg"},
		{"photos/a.jpg", "photos/", "", "a.jpg"},
		{"photos/a.jpg", "", "backup/", "backup/photos/a.jpg"},
		{"photos/2024/a.jpg", "photos/", "x/y/z/", "x/y/z/2024/a.jpg"},
		// Only the leading prefix is replaced, not later occurrences.
		{"photos/photos/a.jpg", "photos/", "p/", "p/photos/a.jpg"},
		// The prefix itself as an object ("folder" marker).
		{"photos/", "photos/", "backup/", "backup/"},
	}
	for _, tt := range tests {
		if got := planner.DestKey(tt.key, tt.src, tt.dst); got != tt.want {
			t.Errorf("DestKey(%q, %q, %q) = %q, want %q", tt.key, tt.src, tt.dst, got, tt.want)
		}
	}
}

func TestActionCopies(t *testing.T) {
	for a, want := range map[planner.Action]bool{
		planner.Copy:         true,
		planner.Multipart:    true,
		planner.ReplayDelete: true,
		planner.Skip:         false,
		planner.Fail:         false,
		"":                   false,
	} {
		if got := a.Copies(); got != want {
			t.Errorf("Action(%q).Copies() = %v, want %v", a, got, want)
		}
	}
}
