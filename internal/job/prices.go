package job

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// Prices are what S3 charges, to price an estimate and a tally: per 1,000
// requests by class, and per GB moved. A --prices file (JSON) replaces the
// built-in table, field by field.
type Prices struct {
	// Date and Source say where the prices come from; both are printed
	// with every estimate.
	Date   string `json:"date"`
	Source string `json:"source"`
	// PerThousand is the price of 1,000 requests of each class: "tier1"
	// (PUT, COPY, POST, LIST), "tier2" (GET, HEAD and the rest) and
	// "delete".
	PerThousand map[string]float64 `json:"per_1000_requests"`
	// PerGB is the price of a GB (2^30 bytes) moved: "streamed" (read from
	// the source through this machine: S3's data transfer out) and
	// "server_side" (copied by S3 itself: 0 in one region, the
	// inter-region rate between two).
	PerGB map[string]float64 `json:"per_gb"`
}

// DefaultPrices are AWS S3 Standard's list prices in us-east-1, as AWS
// published them on the date below.
var DefaultPrices = Prices{
	Date:        "2025-06-01",
	Source:      "AWS S3 Standard, us-east-1 list prices",
	PerThousand: map[string]float64{"tier1": 0.005, "tier2": 0.0004, "delete": 0},
	PerGB:       map[string]float64{"streamed": 0.09, "server_side": 0},
}

// requestClass is the pricing class of an S3 operation.
func requestClass(op string) string {
	switch {
	case strings.HasPrefix(op, "Delete"), op == "AbortMultipartUpload":
		return "delete"
	case strings.HasPrefix(op, "Put"), strings.HasPrefix(op, "Copy"), strings.HasPrefix(op, "List"),
		op == "UploadPart", op == "UploadPartCopy", op == "CreateMultipartUpload", op == "CompleteMultipartUpload",
		op == "CreateBucket":
		return "tier1"
	}
	return "tier2"
}

// ReadPrices reads a --prices file over the built-in table: what it
// leaves out keeps the built-in price.
func ReadPrices(path string) (Prices, error) {
	p := DefaultPrices
	p.PerThousand = maps.Clone(DefaultPrices.PerThousand)
	p.PerGB = maps.Clone(DefaultPrices.PerGB)
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, UsageError{fmt.Errorf("--prices: %w", err)}
	}
	var f Prices
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return p, Usagef(`--prices %s: %v; want {"date": "YYYY-MM-DD", "source": "...", "per_1000_requests": {"tier1": 0.005, "tier2": 0.0004, "delete": 0}, "per_gb": {"streamed": 0.09, "server_side": 0}}`, path, err)
	}
	if f.Date == "" {
		return p, Usagef("--prices %s: no \"date\": say when these prices were taken", path)
	}
	p.Date, p.Source = f.Date, f.Source
	if p.Source == "" {
		p.Source = path
	}
	for _, m := range []struct {
		from, to map[string]float64
		names    []string
		what     string
	}{{f.PerThousand, p.PerThousand, []string{"tier1", "tier2", "delete"}, "per_1000_requests"},
		{f.PerGB, p.PerGB, []string{"streamed", "server_side"}, "per_gb"}} {
		for k, v := range m.from {
			if !slices.Contains(m.names, k) || v < 0 {
				return p, Usagef("--prices %s: %s.%s: want one of %s, not negative", path, m.what, k, strings.Join(m.names, ", "))
			}
			m.to[k] = v
		}
	}
	return p, nil
}

// Request is the price of n requests of an operation.
func (p Prices) Request(op string, n int64) float64 {
	return float64(n) / 1000 * p.PerThousand[requestClass(op)]
}

// Bytes is the price of moving n bytes of a kind ("streamed", "server_side").
func (p Prices) Bytes(kind string, n int64) float64 {
	return float64(n) / (1 << 30) * p.PerGB[kind]
}

// Label is how an estimate names its prices.
func (p Prices) Label() string {
	return fmt.Sprintf("prices of %s (%s); your contract may differ", p.Date, p.Source)
}
