package planner_test

import (
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

func TestCompareChecksums(t *testing.T) {
	const (
		a = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
		b = "LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564="
	)
	full := func(alg, v string) planner.Checksum {
		return planner.Checksum{Algorithm: alg, Value: v, Type: "FULL_OBJECT"}
	}
	comp := func(alg, v string) planner.Checksum {
		return planner.Checksum{Algorithm: alg, Value: v, Type: "COMPOSITE"}
	}
	tests := []struct {
		name           string
		src, replica   planner.Checksum
		status, reason string
	}{
		{"no source checksum", planner.Checksum{}, full("SHA256", a),
			planner.ChecksumNotCompared, "the source has no checksum"},
		{"neither has one", planner.Checksum{}, planner.Checksum{},
			planner.ChecksumNotCompared, "the source has no checksum"},
		{"only the source's algorithm known (an inventory)", full("CRC32", ""), full("CRC32", a),
			planner.ChecksumNotCompared, "the source's CRC32 value is not known (an inventory names only the algorithm)"},
		{"no replica checksum", full("SHA256", a), planner.Checksum{},
			planner.ChecksumNotCompared, "the replica has no checksum (a multipart copy has none on this server)"},
		{"different algorithms", full("SHA256", a), full("CRC32", "AAAAAA=="),
			planner.ChecksumNotCompared, "the source has SHA256, the replica CRC32"},
		{"different algorithms, same value", full("CRC32", "AAAAAA=="), full("CRC32C", "AAAAAA=="),
			planner.ChecksumNotCompared, "the source has CRC32, the replica CRC32C"},
		{"equal full object", full("SHA256", a), full("SHA256", a),
			planner.ChecksumMatch, "SHA256 (full object) equal"},
		{"equal, no type", planner.Checksum{Algorithm: "CRC32", Value: "AAAAAA=="}, planner.Checksum{Algorithm: "CRC32", Value: "AAAAAA=="},
			planner.ChecksumMatch, "CRC32 (full object) equal"},
		{"equal composite", comp("CRC32C", "q8wb5g==-3"), comp("CRC32C", "q8wb5g==-3"),
			planner.ChecksumMatch, "CRC32C (composite) equal"},
		{"composite source differs", comp("SHA256", a+"-2"), full("SHA256", b),
			planner.ChecksumNotCompared, "composite SHA256 checksums depend on the part layout"},
		{"composite replica differs", full("SHA1", a), comp("SHA1", b+"-4"),
			planner.ChecksumNotCompared, "composite SHA1 checksums depend on the part layout"},
		{"composite both differ", comp("CRC32", "AAAAAA==-2"), comp("CRC32", "AAAAAB==-3"),
			planner.ChecksumNotCompared, "composite CRC32 checksums depend on the part layout"},
		{"full object mismatch", full("SHA256", a), full("SHA256", b),
			planner.ChecksumMismatch, "SHA256 differs: source " + a + ", replica " + b},
		{"mismatch, no type", planner.Checksum{Algorithm: "CRC64NVME", Value: "x"}, planner.Checksum{Algorithm: "CRC64NVME", Value: "y"},
			planner.ChecksumMismatch, "CRC64NVME differs: source x, replica y"},
		{"replica value missing", full("SHA256", a), planner.Checksum{Algorithm: "SHA256", Type: "FULL_OBJECT"},
			planner.ChecksumMismatch, "SHA256 differs: source " + a + ", replica "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := planner.CompareChecksums(tt.src, tt.replica)
			if status != tt.status || reason != tt.reason {
				t.Errorf("CompareChecksums(%+v, %+v) = (%q, %q), want (%q, %q)", tt.src, tt.replica, status, reason, tt.status, tt.reason)
			}
		})
	}
}
