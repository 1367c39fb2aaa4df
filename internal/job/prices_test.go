package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadPrices: a --prices file replaces the built-in prices it names
// and keeps the rest; it must say when its prices were taken; unknown or
// negative entries are refused with what the file should look like.
func TestReadPrices(t *testing.T) {
	write := func(s string) string {
		p := filepath.Join(t.TempDir(), "prices.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := ReadPrices(write(`{"date": "2026-11-30", "source": "our contract", "per_1000_requests": {"tier1": 0.004}, "per_gb": {"server_side": 0.02}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.PerThousand["tier1"] != 0.004 || p.PerThousand["tier2"] != DefaultPrices.PerThousand["tier2"] || p.PerGB["server_side"] != 0.02 ||
		p.PerGB["streamed"] != DefaultPrices.PerGB["streamed"] || p.Label() != "prices of 2026-11-30 (our contract); your contract may differ" {
		t.Errorf("prices %+v", p)
	}
	if DefaultPrices.PerThousand["tier1"] != 0.005 {
		t.Error("reading a file changed the built-in prices")
	}
	if got := p.Request("CopyObject", 2000) + p.Request("HeadObject", 1000) + p.Request("DeleteObject", 1000); got != 0.008+0.0004 {
		t.Errorf("2,000 copies, 1,000 HEADs and 1,000 DELETEs cost %v", got)
	}
	for _, tc := range []struct{ file, want string }{
		{`{"per_1000_requests": {"tier1": 0.004}}`, `no "date"`},
		{`{"date": "x", "per_1000_requests": {"tier3": 1}}`, "per_1000_requests.tier3: want one of tier1, tier2, delete"},
		{`{"date": "x", "per_gb": {"streamed": -1}}`, "per_gb.streamed"},
		{`{"date": "x", "currency": "EUR"}`, `unknown field "currency"`},
	} {
		if _, err := ReadPrices(write(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.file, err, tc.want)
		}
	}
}
