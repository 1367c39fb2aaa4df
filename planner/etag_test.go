package planner_test

import (
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

func TestCompareETags(t *testing.T) {
	const (
		md5A = "9b2cf535f27731c974343645a3985328"
		md5B = "6f5902ac237024bdd0c176cb93063dc4"
		mpA  = "d41d8cd98f00b204e9800998ecf8427e-3"
		mpB  = "e2fc714c4727ee9395f324cd2e7f331f-2"
	)
	const (
		notMD5    = "SSE-C/KMS ETag is not an MD5"
		layout    = "multipart layout changed"
		plaintext = "plaintext ETags differ"
	)
	tests := []struct {
		name           string
		src, replica   string
		srcEnc, repEnc planner.Encryption
		status, reason string
	}{
		{"same plaintext", md5A, md5A, planner.NotSSE, planner.NotSSE, planner.ETagMatch, ""},
		{"same, quoted on one side", `"` + md5A + `"`, md5A, planner.NotSSE, planner.SSES3, planner.ETagMatch, ""},
		{"same, both quoted", `"` + md5A + `"`, `"` + md5A + `"`, planner.SSES3, planner.SSES3, planner.ETagMatch, ""},
		{"same opaque KMS ETag", md5A, md5A, planner.SSEKMS, planner.SSEKMS, planner.ETagMatch, ""},
		{"same multipart", mpA, mpA, planner.NotSSE, planner.NotSSE, planner.ETagMatch, ""},

		{"SSE-C both", md5A, md5B, planner.SSEC, planner.SSEC, planner.ETagDiffersExpected, notMD5},
		{"SSE-C source, plaintext replica", md5A, md5B, planner.SSEC, planner.NotSSE, planner.ETagDiffersExpected, notMD5},
		{"plaintext source, SSE-KMS replica", md5A, md5B, planner.NotSSE, planner.SSEKMS, planner.ETagDiffersExpected, notMD5},
		{"SSE-KMS both", md5A, md5B, planner.SSEKMS, planner.SSEKMS, planner.ETagDiffersExpected, notMD5},
		{"DSSE-KMS both", md5A, md5B, planner.DSSEKMS, planner.DSSEKMS, planner.ETagDiffersExpected, notMD5},
		{"KMS wins over multipart", mpA, md5B, planner.SSEKMS, planner.SSEKMS, planner.ETagDiffersExpected, notMD5},

		{"multipart source, single-part replica", mpA, md5B, planner.NotSSE, planner.NotSSE, planner.ETagDiffersExpected, layout},
		{"single-part source, multipart replica", md5A, mpB, planner.SSES3, planner.SSES3, planner.ETagDiffersExpected, layout},
		{"multipart both, other part count", mpA, mpB, planner.NotSSE, planner.SSES3, planner.ETagDiffersExpected, layout},
		{"quoted multipart", `"` + mpA + `"`, `"` + md5B + `"`, planner.NotSSE, planner.NotSSE, planner.ETagDiffersExpected, layout},

		{"plaintext differs", md5A, md5B, planner.NotSSE, planner.NotSSE, planner.ETagDiffersUnexpected, plaintext},
		{"SSE-S3 differs", md5A, md5B, planner.SSES3, planner.SSES3, planner.ETagDiffersUnexpected, plaintext},
		{"plaintext to SSE-S3 differs", md5A, md5B, planner.NotSSE, planner.SSES3, planner.ETagDiffersUnexpected, plaintext},
		{"replica ETag missing", md5A, "", planner.NotSSE, planner.NotSSE, planner.ETagDiffersUnexpected, plaintext},
		// Two empty ETags are no evidence of a match.
		{"both ETags missing", "", "", planner.NotSSE, planner.NotSSE, planner.ETagDiffersUnexpected, plaintext},
		{"case differs", md5A, "9B2CF535F27731C974343645A3985328", planner.NotSSE, planner.NotSSE, planner.ETagDiffersUnexpected, plaintext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := planner.CompareETags(tt.src, tt.replica, tt.srcEnc, tt.repEnc)
			if status != tt.status || reason != tt.reason {
				t.Errorf("CompareETags(%q, %q, %s, %s) = (%q, %q), want (%q, %q)",
					tt.src, tt.replica, tt.srcEnc, tt.repEnc, status, reason, tt.status, tt.reason)
			}
		})
	}
}

func TestEncryptionOf(t *testing.T) {
	tests := []struct {
		sse, customer string
		want          planner.Encryption
	}{
		{"", "", planner.NotSSE},
		{"AES256", "", planner.SSES3},
		{"aws:kms", "", planner.SSEKMS},
		{"aws:kms:dsse", "", planner.DSSEKMS},
		{"", "AES256", planner.SSEC},
		// The customer algorithm header decides, whatever else is sent.
		{"AES256", "AES256", planner.SSEC},
		{"aws:kms", "AES256", planner.SSEC},
		// Header values are case-sensitive.
		{"aes256", "", planner.NotSSE},
		{"AWS:KMS", "", planner.NotSSE},
	}
	for _, tt := range tests {
		if got := planner.EncryptionOf(tt.sse, tt.customer); got != tt.want {
			t.Errorf("EncryptionOf(%q, %q) = %q, want %q", tt.sse, tt.customer, got, tt.want)
		}
	}
}

func TestParseEncryption(t *testing.T) {
	valid := map[string]planner.Encryption{
		"NOT-SSE":  planner.NotSSE,
		"not-sse":  planner.NotSSE,
		"SSE-S3":   planner.SSES3,
		"sse-s3":   planner.SSES3,
		"SSE-KMS":  planner.SSEKMS,
		"Sse-Kms":  planner.SSEKMS,
		"DSSE-KMS": planner.DSSEKMS,
		"dsse-kms": planner.DSSEKMS,
		"SSE-C":    planner.SSEC,
		"sse-c":    planner.SSEC,
	}
	for in, want := range valid {
		got, ok := planner.ParseEncryption(in)
		if !ok || got != want {
			t.Errorf("ParseEncryption(%q) = (%q, %v), want (%q, true)", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "SSE", "AES256", "aws:kms", "SSE-C ", " SSE-C", "NOTSSE", "SSE_KMS"} {
		if got, ok := planner.ParseEncryption(in); ok || got != "" {
			t.Errorf("ParseEncryption(%q) = (%q, %v), want (\"\", false)", in, got, ok)
		}
	}
}
