package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/s3backfill/s3backfill/planner"
)

// Settings are a job's settings. They are stored in the checkpoint, so a
// rerun needs only --db; flags given on a rerun replace the stored values.
// No key material is ever part of them: the key file is named by path.
type Settings struct {
	Source string `json:"source"` // s3://bucket[/prefix]
	Dest   string `json:"dest"`

	KeysFile string `json:"keys_file,omitempty"`
	Report   string `json:"report,omitempty"`

	EndpointURL       string `json:"endpoint_url,omitempty"`
	SourceEndpointURL string `json:"source_endpoint_url,omitempty"`
	DestEndpointURL   string `json:"dest_endpoint_url,omitempty"`
	CABundle          string `json:"ca_bundle,omitempty"`
	Region            string `json:"region,omitempty"`
	Profile           string `json:"profile,omitempty"`
	DestProfile       string `json:"dest_profile,omitempty"`

	Workers     int `json:"workers"`
	PartWorkers int `json:"part_workers"`
	// MaxInFlight caps the S3 requests in flight over all workers and
	// parts; 0 means 2 × workers.
	MaxInFlight          int     `json:"max_in_flight,omitempty"`
	MaxRequestsPerSecond float64 `json:"max_requests_per_second,omitempty"`
	CopyMode             string  `json:"copy_mode,omitempty"`   // auto (""), server or stream
	PartLayout           string  `json:"part_layout,omitempty"` // source (""), or size
	MultipartThreshold   int64   `json:"multipart_threshold"`
	PartSize             int64   `json:"part_size"`

	ReplicateKMS    bool   `json:"replicate_kms,omitempty"`
	ReplicaKMSKeyID string `json:"replica_kms_key_id,omitempty"`
	DeleteMarkers   bool   `json:"delete_markers,omitempty"`

	// ReplicationConfig is the JSON of --replication-config (stored, so
	// that the job's rules do not change under it); with
	// ReplicationConfigFromSource the source bucket's is read every run.
	ReplicationConfig           string `json:"replication_config,omitempty"`
	ReplicationConfigFromSource bool   `json:"replication_config_from_source,omitempty"`

	Filter     planner.Filter `json:"filter"`
	NoKMSProbe bool           `json:"no_kms_probe,omitempty"`
}

// Defaults. Workers: enough parallel keys to hide per-request latency
// without tripping S3's per-prefix request rates. Part size: 16 MiB keeps a
// 5 GiB copy at 320 requests and a streamed copy's memory at
// part size × part workers per object. Threshold: as the issue asks, 64 MiB.
const (
	defaultWorkers            = 16
	defaultPartWorkers        = 4
	defaultMultipartThreshold = 64 << 20
	defaultPartSize           = 16 << 20
)

func defaultSettings() Settings {
	return Settings{
		Workers:            defaultWorkers,
		PartWorkers:        defaultPartWorkers,
		MultipartThreshold: defaultMultipartThreshold,
		PartSize:           defaultPartSize,
		Filter:             planner.Filter{MaxSize: -1},
	}
}

// maxInFlight is the cap on requests in flight: by default twice the
// workers, so that parts of large objects can overlap the small ones
// without parts × workers requests piling onto one server.
func (s Settings) maxInFlight() int {
	if s.MaxInFlight > 0 {
		return s.MaxInFlight
	}
	return 2 * s.Workers
}

// usesConfig: the rules come from a replication configuration.
func (s Settings) usesConfig() bool {
	return s.ReplicationConfig != "" || s.ReplicationConfigFromSource
}

// location is a parsed s3:// URL.
type location struct {
	Bucket string
	Prefix string // normalized: empty or ending in "/"
}

func (l location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// parseS3URL parses s3://bucket[/prefix]. A prefix names a folder, as
// aws s3 sync reads it: s3://b/photos is s3://b/photos/.
func parseS3URL(flag, s string) (location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return location{}, fmt.Errorf("--%s %q: want s3://BUCKET[/PREFIX]", flag, s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return location{}, fmt.Errorf("--%s %q: no bucket name; want s3://BUCKET[/PREFIX]", flag, s)
	}
	return location{Bucket: bucket, Prefix: planner.NormalizePrefix(prefix)}, nil
}

// validate checks the settings before anything is contacted.
func (s Settings) validate() error {
	if s.usesConfig() {
		if s.Source == "" {
			return fmt.Errorf("--source is needed for a new job (a rerun of an existing --db needs none)")
		}
		if s.ReplicationConfig != "" && s.ReplicationConfigFromSource {
			return fmt.Errorf("give --replication-config or --replication-config-from-source, not both")
		}
		var mixed []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"--dest", s.Dest != ""}, {"--replicate-kms", s.ReplicateKMS}, {"--replica-kms-key-id", s.ReplicaKMSKeyID != ""},
			{"--delete-markers", s.DeleteMarkers}} {
			if f.set {
				mixed = append(mixed, f.name)
			}
		}
		if len(mixed) > 0 {
			return fmt.Errorf("the replication configuration names the destinations and their rules: drop %s, "+
				"the one-rule form of the same settings (a job started with --dest keeps it: use another --db)", strings.Join(mixed, ", "))
		}
		if _, err := parseS3URL("source", s.Source); err != nil {
			return err
		}
	} else {
		if s.Source == "" || s.Dest == "" {
			return fmt.Errorf("--source and --dest (or --replication-config) are needed for a new job (a rerun of an existing --db needs none)")
		}
		src, err := parseS3URL("source", s.Source)
		if err != nil {
			return err
		}
		dst, err := parseS3URL("dest", s.Dest)
		if err != nil {
			return err
		}
		if src.Bucket == dst.Bucket && s.sourceEndpoint() == s.destEndpoint() &&
			(strings.HasPrefix(src.Prefix, dst.Prefix) || strings.HasPrefix(dst.Prefix, src.Prefix)) {
			return fmt.Errorf("--source %s and --dest %s overlap: replicas would be listed as sources; use separate buckets or prefixes", src, dst)
		}
	}
	for _, e := range []struct{ flag, url string }{
		{"endpoint-url", s.EndpointURL}, {"source-endpoint-url", s.SourceEndpointURL}, {"dest-endpoint-url", s.DestEndpointURL},
	} {
		if err := checkEndpoint(e.flag, e.url); err != nil {
			return err
		}
	}
	if err := s.Filter.Validate(); err != nil {
		return err
	}
	if s.Workers < 1 || s.PartWorkers < 1 || s.MaxInFlight < 0 {
		return fmt.Errorf("--workers and --part-workers must be at least 1, --max-in-flight at least 0")
	}
	if s.MaxRequestsPerSecond < 0 {
		return fmt.Errorf("--max-requests-per-second must not be negative")
	}
	switch s.CopyMode {
	case "", "auto", "server", "stream":
	default:
		return fmt.Errorf("--copy-mode %q: want auto, server or stream", s.CopyMode)
	}
	switch s.PartLayout {
	case "", "source", "size":
	default:
		return fmt.Errorf("--part-layout %q: want source or size", s.PartLayout)
	}
	if s.PartSize < 5<<20 || s.PartSize > 5<<30 {
		return fmt.Errorf("--part-size must be between 5MiB and 5GiB (S3's part limits), got %s", formatSize(s.PartSize))
	}
	rules := planner.Rules{
		ReplicateKMS:       s.ReplicateKMS,
		ReplicaKMSKeyID:    s.ReplicaKMSKeyID,
		MultipartThreshold: s.MultipartThreshold,
	}
	return rules.Validate()
}

// checkEndpoint: an endpoint is an http or https URL with a host, such as
// https://127.0.0.1:9000; anything else would fail in every request.
func checkEndpoint(flag, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--%s %q: want a URL such as https://s3.example.com or https://127.0.0.1:9000", flag, v)
	}
	return nil
}

// parseTime reads --created-after/--created-before: RFC 3339, or a date
// (midnight UTC).
func parseTime(flag, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a date (2024-01-31) or a time (2024-01-31T12:00:00Z)", flag, v)
}

// parseList reads a comma-separated flag value, upper-cased.
func parseList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s Settings) sourceEndpoint() string { return firstNonEmpty(s.SourceEndpointURL, s.EndpointURL) }
func (s Settings) destEndpoint() string   { return firstNonEmpty(s.DestEndpointURL, s.EndpointURL) }

func (s Settings) marshal() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain struct of strings and numbers
	}
	return b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// absPath makes a path given on the command line absolute, so that a rerun
// from another directory finds the same file.
func absPath(p string) string {
	if p == "" || p == "-" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// sizeUnits are the suffixes parseSize accepts.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads sizes such as 5MiB, 64MB, 1GiB, 1.5GiB or 1048576.
func parseSize(flag, s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return unicode.IsLetter(r) })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.ToLower(t[i:])
	}
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("--%s %q: want a size such as 5MiB, 64MB, 1GiB or a number of bytes", flag, s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("--%s %q: too large", flag, s)
	}
	return int64(v), nil
}

// formatSize prints bytes with a binary unit.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d%ciB", int64(v), "KMGTP"[exp])
	}
	return fmt.Sprintf("%.1f%ciB", v, "KMGTP"[exp])
}
