package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// noBound is the filter main starts from: every bound open.
var noBound = planner.Filter{MaxSize: -1}

// filterWith is noBound changed by f.
func filterWith(f func(*planner.Filter)) planner.Filter {
	out := noBound
	f(&out)
	return out
}

func TestFilterValidate(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		f       planner.Filter
		wantErr string // substring; "" = valid
	}{
		{"no bounds", noBound, ""},
		{"after only", filterWith(func(f *planner.Filter) { f.CreatedAfter = t0 }), ""},
		{"before only", filterWith(func(f *planner.Filter) { f.CreatedBefore = t0 }), ""},
		{"after before before", filterWith(func(f *planner.Filter) { f.CreatedAfter, f.CreatedBefore = t0, t0.Add(time.Second) }), ""},
		{"after equals before", filterWith(func(f *planner.Filter) { f.CreatedAfter, f.CreatedBefore = t0, t0 }),
			"--created-after 2025-06-01T12:00:00Z is not before --created-before 2025-06-01T12:00:00Z"},
		{"after later than before", filterWith(func(f *planner.Filter) { f.CreatedAfter, f.CreatedBefore = t0.Add(time.Hour), t0 }),
			"--created-after 2025-06-01T13:00:00Z is not before --created-before 2025-06-01T12:00:00Z"},

		{"min equals max", filterWith(func(f *planner.Filter) { f.MinSize, f.MaxSize = 10, 10 }), ""},
		{"min below max", filterWith(func(f *planner.Filter) { f.MinSize, f.MaxSize = 9, 10 }), ""},
		{"min above max", filterWith(func(f *planner.Filter) { f.MinSize, f.MaxSize = 11, 10 }),
			"--min-size 11 is larger than --max-size 10"},
		{"min with max 0", filterWith(func(f *planner.Filter) { f.MinSize, f.MaxSize = 1, 0 }),
			"--min-size 1 is larger than --max-size 0"},
		{"min with no max", filterWith(func(f *planner.Filter) { f.MinSize = 1 << 40 }), ""},

		{"every replication status", filterWith(func(f *planner.Filter) {
			f.ReplicationStatuses = []string{"NONE", "PENDING", "FAILED", "COMPLETED", "REPLICA"}
		}), ""},
		{"unknown replication status", filterWith(func(f *planner.Filter) { f.ReplicationStatuses = []string{"NONE", "DONE"} }),
			`--replication-status "DONE": want one of NONE,PENDING,FAILED,COMPLETED,REPLICA`},
		{"lower-case replication status", filterWith(func(f *planner.Filter) { f.ReplicationStatuses = []string{"pending"} }),
			`--replication-status "pending"`},
		{"empty replication status", filterWith(func(f *planner.Filter) { f.ReplicationStatuses = []string{""} }),
			`--replication-status ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFilterExcludesListed(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	obj := planner.Source{Version: planner.Version{Key: "photos/2025/a.jpg", VersionID: "v1", Size: 100, LastModified: t0, StorageClass: "STANDARD"}}
	with := func(s planner.Source, f func(*planner.Source)) planner.Source { f(&s); return s }
	marker := planner.Source{Version: planner.Version{Key: "photos/2025/a.jpg", VersionID: "dm", DeleteMarker: true, LastModified: t0}}

	tests := []struct {
		name string
		f    planner.Filter
		src  planner.Source
		want string // "" = selected
	}{
		{"no bounds", noBound, obj, ""},
		{"no bounds, empty object", noBound, with(obj, func(s *planner.Source) { s.Size = 0 }), ""},

		// Key.
		{"prefix matches", filterWith(func(f *planner.Filter) { f.KeyPrefix = "photos/" }), obj, ""},
		{"prefix equals key", filterWith(func(f *planner.Filter) { f.KeyPrefix = "photos/2025/a.jpg" }), obj, ""},
		{"prefix differs", filterWith(func(f *planner.Filter) { f.KeyPrefix = "docs/" }), obj,
			`filtered out: key does not start with "docs/"`},
		{"prefix is case-sensitive", filterWith(func(f *planner.Filter) { f.KeyPrefix = "Photos/" }), obj,
			`filtered out: key does not start with "Photos/"`},
		{"suffix matches", filterWith(func(f *planner.Filter) { f.KeySuffix = ".jpg" }), obj, ""},
		{"suffix differs", filterWith(func(f *planner.Filter) { f.KeySuffix = ".png" }), obj,
			`filtered out: key does not end with ".png"`},
		{"contains matches", filterWith(func(f *planner.Filter) { f.KeyContains = "/2025/" }), obj, ""},
		{"contains differs", filterWith(func(f *planner.Filter) { f.KeyContains = "/2024/" }), obj,
			`filtered out: key does not contain "/2024/"`},
		{"prefix checked before suffix", filterWith(func(f *planner.Filter) { f.KeyPrefix, f.KeySuffix = "docs/", ".png" }), obj,
			`filtered out: key does not start with "docs/"`},

		// Creation time: both bounds strict.
		{"created after: one second later", filterWith(func(f *planner.Filter) { f.CreatedAfter = t0.Add(-time.Second) }), obj, ""},
		{"created after: equal", filterWith(func(f *planner.Filter) { f.CreatedAfter = t0 }), obj,
			"filtered out: created 2025-06-01T12:00:00Z, not after 2025-06-01T12:00:00Z"},
		{"created after: earlier", filterWith(func(f *planner.Filter) { f.CreatedAfter = t0.Add(time.Millisecond) }), obj,
			"filtered out: created 2025-06-01T12:00:00Z, not after 2025-06-01T12:00:00.001Z"},
		{"created before: one second earlier", filterWith(func(f *planner.Filter) { f.CreatedBefore = t0.Add(time.Second) }), obj, ""},
		{"created before: equal", filterWith(func(f *planner.Filter) { f.CreatedBefore = t0 }), obj,
			"filtered out: created 2025-06-01T12:00:00Z, not before 2025-06-01T12:00:00Z"},
		{"created before: later", filterWith(func(f *planner.Filter) { f.CreatedBefore = t0.Add(-time.Hour) }), obj,
			"filtered out: created 2025-06-01T12:00:00Z, not before 2025-06-01T11:00:00Z"},
		{"created in a window", filterWith(func(f *planner.Filter) {
			f.CreatedAfter, f.CreatedBefore = t0.Add(-time.Hour), t0.Add(time.Hour)
		}), obj, ""},
		{"times shown in UTC", filterWith(func(f *planner.Filter) {
			f.CreatedAfter = t0.In(time.FixedZone("CEST", 2*3600))
		}), obj, "filtered out: created 2025-06-01T12:00:00Z, not after 2025-06-01T12:00:00Z"},

		// Sizes: both bounds inclusive.
		{"min size: equal", filterWith(func(f *planner.Filter) { f.MinSize = 100 }), obj, ""},
		{"min size: one above", filterWith(func(f *planner.Filter) { f.MinSize = 101 }), obj,
			"filtered out: 100 bytes, below --min-size 101"},
		{"max size: equal", filterWith(func(f *planner.Filter) { f.MaxSize = 100 }), obj, ""},
		{"max size: one below", filterWith(func(f *planner.Filter) { f.MaxSize = 99 }), obj,
			"filtered out: 100 bytes, above --max-size 99"},
		{"max size 0 keeps empty objects", filterWith(func(f *planner.Filter) { f.MaxSize = 0 }),
			with(obj, func(s *planner.Source) { s.Size = 0 }), ""},
		{"max size 0", filterWith(func(f *planner.Filter) { f.MaxSize = 0 }),
			with(obj, func(s *planner.Source) { s.Size = 1 }), "filtered out: 1 bytes, above --max-size 0"},

		// Storage class: "" is STANDARD.
		{"storage class listed", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"STANDARD_IA", "STANDARD"} }), obj, ""},
		{"storage class not listed", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"GLACIER", "STANDARD_IA"} }), obj,
			"filtered out: storage class STANDARD not in GLACIER,STANDARD_IA"},
		{"empty storage class is STANDARD", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"STANDARD"} }),
			with(obj, func(s *planner.Source) { s.StorageClass = "" }), ""},
		{"empty storage class not listed", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"GLACIER"} }),
			with(obj, func(s *planner.Source) { s.StorageClass = "" }), "filtered out: storage class STANDARD not in GLACIER"},
		{"other storage class", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"STANDARD"} }),
			with(obj, func(s *planner.Source) { s.StorageClass = "DEEP_ARCHIVE" }), "filtered out: storage class DEEP_ARCHIVE not in STANDARD"},

		// Delete markers: key and time only.
		{"marker: key excluded", filterWith(func(f *planner.Filter) { f.KeySuffix = ".png" }), marker,
			`filtered out: key does not end with ".png"`},
		{"marker: time excluded", filterWith(func(f *planner.Filter) { f.CreatedBefore = t0 }), marker,
			"filtered out: created 2025-06-01T12:00:00Z, not before 2025-06-01T12:00:00Z"},
		// Delete markers keep the deletions of the selected keys.
		{"marker: min size ignored", filterWith(func(f *planner.Filter) { f.MinSize = 1 }), marker, ""},
		{"marker: max size ignored", filterWith(func(f *planner.Filter) { f.MaxSize = 0 }),
			with(marker, func(s *planner.Source) { s.Size = 5 }), ""},
		{"marker: storage class ignored", filterWith(func(f *planner.Filter) { f.StorageClasses = []string{"GLACIER"} }), marker, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatalf("test filter is invalid: %v", err)
			}
			if got := tt.f.ExcludesListed(tt.src); got != tt.want {
				t.Errorf("ExcludesListed(%+v) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestFilterExcludesInspected(t *testing.T) {
	obj := planner.Source{Version: planner.Version{Key: "k", VersionID: "v1", Size: 1}, Inspection: planner.Inspection{Encryption: planner.SSEKMS, ReplicationStatus: "COMPLETED"}}
	with := func(s planner.Source, f func(*planner.Source)) planner.Source { f(&s); return s }
	encs := func(es ...planner.Encryption) planner.Filter {
		return filterWith(func(f *planner.Filter) { f.Encryptions = es })
	}
	statuses := func(ss ...string) planner.Filter {
		return filterWith(func(f *planner.Filter) { f.ReplicationStatuses = ss })
	}
	tests := []struct {
		name string
		f    planner.Filter
		src  planner.Source
		want string
	}{
		{"no bounds", noBound, obj, ""},
		{"listed filters are not looked at", filterWith(func(f *planner.Filter) { f.KeyPrefix, f.MinSize = "other/", 1000 }), obj, ""},

		{"encryption listed", encs(planner.SSES3, planner.SSEKMS), obj, ""},
		{"encryption not listed", encs(planner.SSES3, planner.SSEC), obj, "filtered out: encryption SSE-KMS not in SSE-S3,SSE-C"},
		{"DSSE is not SSE-KMS", encs(planner.SSEKMS), with(obj, func(s *planner.Source) { s.Encryption = planner.DSSEKMS }),
			"filtered out: encryption DSSE-KMS not in SSE-KMS"},
		{"not encrypted", encs(planner.NotSSE), with(obj, func(s *planner.Source) { s.Encryption = planner.NotSSE }), ""},
		{"SSE-C no key opened", encs(planner.SSEC), with(obj, func(s *planner.Source) { s.Encryption = planner.SSEC }), ""},

		{"status listed", statuses("FAILED", "COMPLETED"), obj, ""},
		{"status not listed", statuses("FAILED", "PENDING"), obj, "filtered out: replication status COMPLETED not in FAILED,PENDING"},
		{"no status is NONE", statuses("NONE"), with(obj, func(s *planner.Source) { s.ReplicationStatus = "" }), ""},
		{"no status, NONE not listed", statuses("FAILED"), with(obj, func(s *planner.Source) { s.ReplicationStatus = "" }),
			"filtered out: replication status NONE not in FAILED"},
		{"REPLICA", statuses("NONE", "FAILED"), with(obj, func(s *planner.Source) { s.ReplicationStatus = "REPLICA" }),
			"filtered out: replication status REPLICA not in NONE,FAILED"},

		{"encryption checked first", filterWith(func(f *planner.Filter) {
			f.Encryptions, f.ReplicationStatuses = []planner.Encryption{planner.SSEC}, []string{"NONE"}
		}), obj, "filtered out: encryption SSE-KMS not in SSE-C"},
		{"both match", filterWith(func(f *planner.Filter) {
			f.Encryptions, f.ReplicationStatuses = []planner.Encryption{planner.SSEKMS}, []string{"COMPLETED"}
		}), obj, ""},

		{"delete marker: encryption ignored", encs(planner.SSEC), planner.Source{Version: planner.Version{Key: "k", VersionID: "dm", DeleteMarker: true}}, ""},
		{"delete marker: status NONE", statuses("FAILED"), planner.Source{Version: planner.Version{Key: "k", VersionID: "dm", DeleteMarker: true}},
			"filtered out: replication status NONE not in FAILED"},
		{"delete marker: NONE selected", statuses("NONE"), planner.Source{Version: planner.Version{Key: "k", VersionID: "dm", DeleteMarker: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatalf("test filter is invalid: %v", err)
			}
			if got := tt.f.ExcludesInspected(tt.src); got != tt.want {
				t.Errorf("ExcludesInspected(%+v) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

// TestNoMaxSizeSelectsEverything: Filter{MaxSize: -1} is the "no filter"
// the command line starts from; MaxSize 0 means empty objects only.
func TestNoMaxSizeSelectsEverything(t *testing.T) {
	f := planner.Filter{MaxSize: -1}
	if r := f.ExcludesListed(planner.Source{Version: planner.Version{Key: "k", VersionID: "v", Size: 1 << 40}}); r != "" {
		t.Errorf("Filter{MaxSize: -1} excludes a 1 TiB object: %q", r)
	}
	if r := (planner.Filter{}).ExcludesListed(planner.Source{Version: planner.Version{Key: "k", VersionID: "v", Size: 1}}); r == "" {
		t.Error("MaxSize 0 takes a 1-byte object")
	}
}
