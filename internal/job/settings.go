package job

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// Spec is a job's settings as the user gave them. It is stored in the
// checkpoint as JSON, so a rerun needs only --db; flags given on a rerun
// replace the stored values. No key material is ever part of it: the key
// file is named by path. Its JSON is the checkpoint's format: fields may be
// added, never renamed.
type Spec struct {
	Source string `json:"source"` // s3://bucket[/prefix]
	Dest   string `json:"dest"`

	KeysFile string `json:"keys_file,omitempty"`
	Report   string `json:"report,omitempty"`
	// Prices is a --prices file (JSON) that replaces the built-in price
	// table of estimates and tallies.
	Prices string `json:"prices,omitempty"`

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
	// RetryFor is how long failing requests are retried at least before a
	// version is recorded failed; 0 means the default (about 2 minutes).
	RetryFor   time.Duration `json:"retry_for,omitempty"`
	CopyMode   string        `json:"copy_mode,omitempty"`   // auto (""), server or stream
	PartLayout string        `json:"part_layout,omitempty"` // source (""), or size
	// ACL: what replicas carry of ACLs: none (""), copy (the source
	// version's grants) or owner-override (full control to the
	// destination bucket's owner).
	ACL string `json:"acl,omitempty"`
	// Inspect: auto ("") HEADs a source version only where the scan's
	// manifest did not say enough; always HEADs every one.
	Inspect string `json:"inspect,omitempty"`
	// ReadBack: auto ("") reads a replica back only where the copy's
	// answer did not say what it is; always or never.
	ReadBack           string `json:"read_back,omitempty"`
	MultipartThreshold int64  `json:"multipart_threshold"`
	PartSize           int64  `json:"part_size"`

	ReplicateKMS    bool   `json:"replicate_kms,omitempty"`
	ReplicaKMSKeyID string `json:"replica_kms_key_id,omitempty"`
	DeleteMarkers   bool   `json:"delete_markers,omitempty"`

	// ReplicationConfig is the JSON of --replication-config (stored, so
	// that the job's rules do not change under it); with
	// ReplicationConfigFromSource the source bucket's is read every run.
	ReplicationConfig           string `json:"replication_config,omitempty"`
	ReplicationConfigFromSource bool   `json:"replication_config_from_source,omitempty"`

	Filter  planner.Filter `json:"filter"`
	NoProbe bool           `json:"no_kms_probe,omitempty"` // the JSON name predates the SSE-C and SSE-S3 probes
	// NoAdoptExisting: do not adopt the replicas a key already has on the
	// destination when the job has no record of them (--adopt-existing=false).
	NoAdoptExisting bool `json:"no_adopt_existing,omitempty"`
}

// Defaults. Workers: enough parallel keys to hide per-request latency
// without tripping S3's per-prefix request rates. Part size: 16 MiB keeps a
// 5 GiB copy at 320 requests and a streamed copy's memory at part size ×
// part workers per object. Threshold: 64 MiB, above which parts overlap.
const (
	DefaultWorkers            = 16
	DefaultPartWorkers        = 4
	DefaultMultipartThreshold = 64 << 20
	DefaultPartSize           = 16 << 20
)

// DefaultSpec is the spec of a new job before flags.
func DefaultSpec() Spec {
	return Spec{
		Workers:            DefaultWorkers,
		PartWorkers:        DefaultPartWorkers,
		MultipartThreshold: DefaultMultipartThreshold,
		PartSize:           DefaultPartSize,
		Filter:             planner.Filter{MaxSize: -1},
	}
}

// StoredSpec reads the spec a checkpoint holds (defaults fill what an
// older job did not store); found is false for a new checkpoint, which
// gets DefaultSpec.
func StoredSpec(ctx context.Context, store interface {
	Settings(context.Context) ([]byte, bool, error)
}) (spec Spec, found bool, err error) {
	spec = DefaultSpec()
	stored, found, err := store.Settings(ctx)
	if err != nil || !found {
		return spec, false, err
	}
	if err := json.Unmarshal(stored, &spec); err != nil {
		return Spec{}, false, fmt.Errorf("stored settings unreadable: %w", err)
	}
	return spec, true, nil
}

// Marshal is the spec as the checkpoint stores it.
func (s Spec) Marshal() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain struct of strings and numbers
	}
	return b
}

// SourceEndpoint is the endpoint URL of the source ("" = AWS's).
func (s Spec) SourceEndpoint() string { return firstNonEmpty(s.SourceEndpointURL, s.EndpointURL) }

// DestEndpoint is the endpoint URL of the destination ("" = AWS's).
func (s Spec) DestEndpoint() string { return firstNonEmpty(s.DestEndpointURL, s.EndpointURL) }

// DestProfileName is the profile the destination's credentials come from.
func (s Spec) DestProfileName() string { return firstNonEmpty(s.DestProfile, s.Profile) }

// Describe names the job: source -> destination.
func (s Spec) Describe() string {
	dest := s.Dest
	if s.usesConfig() {
		dest = "the destinations of the replication configuration"
	}
	return s.Source + " -> " + dest
}

// usesConfig: the rules come from a replication configuration.
func (s Spec) usesConfig() bool {
	return s.ReplicationConfig != "" || s.ReplicationConfigFromSource
}

// Settings are a job's settings, parsed and validated: what Open and the
// phases work from. Build them with Spec.Parse.
type Settings struct {
	Spec   Spec     // as given; stored in the checkpoint once the job opens
	Source Location // the source bucket and prefix
	// Dest is the destination of the one-rule form (--dest); zero when a
	// replication configuration names the destinations.
	Dest Location
	// Replication is the parsed --replication-config, or nil.
	Replication *planner.ReplicationConfig
	// Stream: copies go through this machine (GET + upload), because the
	// destination cannot read the source itself (other endpoint or other
	// credentials), or --copy-mode stream.
	Stream      bool
	MaxInFlight int // S3 requests in flight at most, over all workers and parts
	// Manifest is where this run's scan reads the source's versions
	// (--manifest: a path or s3://bucket/key), instead of listing them;
	// "" lists. It is not stored: each scan names its input.
	Manifest string
	ReadBack executor.ReadBack
	// MaxDuration and MaxVersions are this run's budget (--max-duration,
	// --max-versions; 0: none): once spent, no new version starts, the
	// copies in flight finish, and the run ends with BudgetError. Not
	// stored: each run names its own.
	MaxDuration time.Duration
	MaxVersions int64
	// MetricsFile and MetricsListen: where this run's metrics go (the
	// Prometheus text format; see metrics.go). Not stored.
	MetricsFile, MetricsListen string
	// ReportPartRows: the rows of a result file of a report written to S3
	// at most (0: DefaultReportPartRows).
	ReportPartRows int
}

// Location is a parsed s3:// URL.
type Location struct {
	Bucket string
	Prefix string // normalized: empty or ending in "/"
}

func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// ParseLocation parses s3://bucket[/prefix] given to --flag. A prefix names
// a folder, as aws s3 sync reads it: s3://b/photos is s3://b/photos/.
func ParseLocation(flag, s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("--%s %q: want s3://BUCKET[/PREFIX]", flag, s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("--%s %q: no bucket name; want s3://BUCKET[/PREFIX]", flag, s)
	}
	return Location{Bucket: bucket, Prefix: planner.NormalizePrefix(prefix)}, nil
}

// Parse validates the spec and parses what it names, before anything is
// contacted. Every error is a usage error that says what to fix.
func (s Spec) Parse() (Settings, error) {
	set, err := s.parse()
	if err != nil {
		return Settings{}, UsageError{err}
	}
	return set, nil
}

func (s Spec) parse() (Settings, error) {
	set := Settings{Spec: s}
	var err error
	if s.usesConfig() {
		if s.Source == "" {
			return set, fmt.Errorf("--source is needed for a new job (a rerun of an existing --db needs none)")
		}
		if s.ReplicationConfig != "" && s.ReplicationConfigFromSource {
			return set, fmt.Errorf("give --replication-config or --replication-config-from-source, not both")
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
			return set, fmt.Errorf("the replication configuration names the destinations and their rules: drop %s, "+
				"the one-rule form of the same settings (a job started with --dest keeps it: use another --db)", strings.Join(mixed, ", "))
		}
		if set.Source, err = ParseLocation("source", s.Source); err != nil {
			return set, err
		}
	} else {
		if s.Source == "" || s.Dest == "" {
			return set, fmt.Errorf("--source and --dest (or --replication-config) are needed for a new job (a rerun of an existing --db needs none)")
		}
		if set.Source, err = ParseLocation("source", s.Source); err != nil {
			return set, err
		}
		if set.Dest, err = ParseLocation("dest", s.Dest); err != nil {
			return set, err
		}
		src, dst := set.Source, set.Dest
		if err := checkOverlap(src, dst, s.SourceEndpoint(), s.DestEndpoint()); err != nil {
			return set, err
		}
	}
	for _, e := range []struct{ flag, url string }{
		{"endpoint-url", s.EndpointURL}, {"source-endpoint-url", s.SourceEndpointURL}, {"dest-endpoint-url", s.DestEndpointURL},
	} {
		if err := checkEndpoint(e.flag, e.url); err != nil {
			return set, err
		}
	}
	if err := s.Filter.Validate(); err != nil {
		return set, err
	}
	if s.Workers < 1 || s.PartWorkers < 1 || s.MaxInFlight < 0 {
		return set, fmt.Errorf("--workers and --part-workers must be at least 1, --max-in-flight at least 0")
	}
	if s.MaxRequestsPerSecond < 0 {
		return set, fmt.Errorf("--max-requests-per-second must not be negative")
	}
	if s.RetryFor < 0 || (s.RetryFor > 0 && s.RetryFor < time.Second) || s.RetryFor > 24*time.Hour {
		return set, fmt.Errorf("--retry-for %s: want a duration from 1s to 24h, such as 2m or 10m", s.RetryFor)
	}
	switch s.CopyMode {
	case "", "auto":
		set.Stream = !SameEndpoint(s.SourceEndpoint(), s.DestEndpoint()) || s.DestProfileName() != s.Profile
	case "server":
	case "stream":
		set.Stream = true
	default:
		return set, fmt.Errorf("--copy-mode %q: want auto, server or stream", s.CopyMode)
	}
	switch s.PartLayout {
	case "", "source", "size":
	default:
		return set, fmt.Errorf("--part-layout %q: want source or size", s.PartLayout)
	}
	switch s.ACL {
	case "", "none", executor.ACLCopy, executor.ACLOwnerOverride:
	default:
		return set, fmt.Errorf("--acl %q: want none, copy or owner-override", s.ACL)
	}
	switch s.Inspect {
	case "", "auto", "always":
	default:
		return set, fmt.Errorf("--inspect %q: want auto or always", s.Inspect)
	}
	if set.ReadBack, err = executor.ParseReadBack(s.ReadBack); err != nil {
		return set, err
	}
	if s.PartSize < 5<<20 || s.PartSize > 5<<30 {
		return set, fmt.Errorf("--part-size must be between 5MiB and 5GiB (S3's part limits), got %s", FormatSize(s.PartSize))
	}
	rules := planner.Rules{
		ReplicateKMS:       s.ReplicateKMS,
		ReplicaKMSKeyID:    s.ReplicaKMSKeyID,
		MultipartThreshold: s.MultipartThreshold,
	}
	if err := rules.Validate(); err != nil {
		return set, err
	}
	if s.ReplicationConfig != "" {
		cfg, err := planner.ParseReplicationConfig(strings.NewReader(s.ReplicationConfig))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			return set, fmt.Errorf("--replication-config: %w", err)
		}
		set.Replication = cfg
	}
	// By default twice the workers, so that parts of large objects can
	// overlap the small ones without parts × workers requests piling onto
	// one server.
	set.MaxInFlight = s.MaxInFlight
	if set.MaxInFlight == 0 {
		set.MaxInFlight = 2 * s.Workers
	}
	return set, nil
}

// checkOverlap refuses a destination that lies inside the source (or the
// other way round) on the same endpoint: replicas would be listed as
// sources, and every rerun would copy them again.
func checkOverlap(src, dst Location, srcEndpoint, dstEndpoint string) error {
	if src.Bucket == dst.Bucket && SameEndpoint(srcEndpoint, dstEndpoint) &&
		(strings.HasPrefix(src.Prefix, dst.Prefix) || strings.HasPrefix(dst.Prefix, src.Prefix)) {
		return fmt.Errorf("--source %s and --dest %s overlap: replicas would be listed as sources; use separate buckets or prefixes", src, dst)
	}
	return nil
}

// checkEndpoint: an endpoint is an http or https URL with a host, such as
// https://127.0.0.1:9000; anything else would fail in every request. It
// holds no credentials: they belong in the credential chain, and the URL
// is stored in the checkpoint.
func checkEndpoint(flag, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		if err == nil && u.User != nil {
			v = u.Redacted()
		}
		return fmt.Errorf("--%s %q: want a URL such as https://s3.example.com or https://127.0.0.1:9000", flag, v)
	}
	if u.User != nil {
		return fmt.Errorf("--%s %s holds user info: credentials belong in the credential chain (AWS_ACCESS_KEY_ID, a profile), never in a URL",
			flag, u.Redacted())
	}
	return nil
}

// SameEndpoint reports whether two endpoint URLs name the same place:
// scheme and host compared without case, default ports and a trailing
// slash ignored. "" is AWS's own endpoint.
func SameEndpoint(a, b string) bool { return normalizeEndpoint(a) == normalizeEndpoint(b) }

func normalizeEndpoint(e string) string {
	u, err := url.Parse(strings.TrimSpace(e))
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.ToLower(strings.TrimSpace(e)), "/")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}

// cutAtPartSize: --part-layout size.
func (s Settings) cutAtPartSize() bool { return s.Spec.PartLayout == "size" }

// ParseTime reads --created-after/--created-before: RFC 3339, or a date
// (midnight UTC).
func ParseTime(flag, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a date (2024-01-31) or a time (2024-01-31T12:00:00Z)", flag, v)
}

// sizeUnits are the suffixes ParseSize accepts.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads sizes such as 5MiB, 64MB, 1GiB, 1.5GiB or 1048576 given
// to --flag.
func ParseSize(flag, s string) (int64, error) {
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

// FormatSize prints bytes with a binary unit.
func FormatSize(n int64) string {
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

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
