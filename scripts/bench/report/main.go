// Command report turns a benchmark run's results.csv (scripts/bench/run)
// into a Markdown table with medians, ranges and ratios computed within
// that run, checks the targets of issue 5, and writes summary.json.
//
//	report -dir RESULTS_DIR
//	report -trace FILE -buckets SRC,DST -scenario S -tool T -versions N   (one line of requests.jsonl)
//
// The second form counts the requests in a MinIO trace (mc admin trace
// --json) of one run: by operation, per version copied, with the server's
// time spent on them.
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type run struct {
	scenario, row string
	rep           int
	workers       string
	seconds       float64
	versions      int64
	bytes         int64
	rssKiB        int64
	dest          string // versions found in the destination, "" if not counted
	exit          string
	ref, extra    string
	log           string
}

// row is every repetition of one row of a scenario.
type row struct {
	Scenario  string             `json:"scenario"`
	Name      string             `json:"row"`
	Workers   string             `json:"workers"`
	Runs      int                `json:"runs"`
	OK        bool               `json:"ok"`
	Problem   string             `json:"problem,omitempty"`
	NA        string             `json:"not_applicable,omitempty"`
	Median    float64            `json:"median_seconds"`
	Min       float64            `json:"min_seconds"`
	Max       float64            `json:"max_seconds"`
	Versions  int64              `json:"versions"`
	Bytes     int64              `json:"bytes"`
	Rate      float64            `json:"versions_per_second"`
	MiBps     float64            `json:"mib_per_second,omitempty"`
	RSSMiB    float64            `json:"peak_rss_mib"`
	Ref       string             `json:"ratio_against,omitempty"`
	Ratio     float64            `json:"ratio,omitempty"`
	CPU       float64            `json:"client_cpu_seconds"`
	Phases    map[string]float64 `json:"s3backfill_phase_seconds,omitempty"`
	Ceiling   map[string]float64 `json:"ceiling,omitempty"`
	Extra     string             `json:"extra,omitempty"`
	runs      []run
	ratioKind string // "rate" or "time"
}

func main() {
	dir := flag.String("dir", "", "results directory")
	trace := flag.String("trace", "", "a MinIO trace (JSON lines) to count")
	scenario := flag.String("scenario", "", "with -trace: the scenario")
	tool := flag.String("tool", "", "with -trace: the tool traced")
	versions := flag.Int64("versions", 0, "with -trace: versions copied")
	buckets := flag.String("buckets", "", "with -trace: count only requests on these buckets (comma-separated) and ListBuckets")
	flag.Parse()
	if *trace != "" {
		if err := countTrace(*trace, strings.Split(*buckets, ","), *scenario, *tool, *versions, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: report -dir RESULTS_DIR")
		os.Exit(2)
	}
	if err := report(*dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func report(dir string, w io.Writer) error {
	runs, err := readRuns(filepath.Join(dir, "results.csv"))
	if err != nil {
		return err
	}
	var rows []*row
	index := map[string]*row{}
	for _, r := range runs {
		k := r.scenario + "\x00" + r.row
		rw := index[k]
		if rw == nil {
			rw = &row{Scenario: r.scenario, Name: r.row, Workers: r.workers, Ref: r.ref, Extra: r.extra}
			index[k] = rw
			rows = append(rows, rw)
		}
		if r.rep == 0 {
			rw.NA = strings.TrimPrefix(r.extra, "n/a: ")
			continue
		}
		rw.runs = append(rw.runs, r)
	}
	for _, rw := range rows {
		summarize(dir, rw)
	}
	for _, rw := range rows {
		ratio(rw, rows)
	}
	machine, _ := os.ReadFile(filepath.Join(dir, "machine.txt"))
	fmt.Fprintf(w, "## Benchmark run\n\n```\n%s```\n\n", machine)
	var scenarios []string
	for _, rw := range rows {
		if !slices.Contains(scenarios, rw.Scenario) {
			scenarios = append(scenarios, rw.Scenario)
		}
	}
	for _, s := range scenarios {
		table(w, s, rows)
	}
	requests(w, dir)
	seeding(w, dir)
	targets := checkTargets(rows)
	fmt.Fprintf(w, "### Targets (issue 5)\n\n| scenario | target | measured | |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Scenario, t.Target, t.Measured, t.Verdict)
	}
	fmt.Fprintln(w)
	b, _ := json.MarshalIndent(map[string]any{"rows": rows, "targets": targets}, "", "  ")
	return os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644)
}

func readRuns(path string) ([]run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := csv.NewReader(f)
	recs, err := rd.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []run
	for i, rec := range recs {
		if i == 0 {
			continue
		}
		if len(rec) != 13 {
			return nil, fmt.Errorf("%s line %d: %d fields, want 13", path, i+1, len(rec))
		}
		r := run{scenario: rec[0], row: rec[1], workers: rec[3], dest: rec[8], exit: rec[9], ref: rec[10], extra: rec[11], log: rec[12]}
		r.rep, _ = strconv.Atoi(rec[2])
		r.seconds, _ = strconv.ParseFloat(rec[4], 64)
		r.versions, _ = strconv.ParseInt(rec[5], 10, 64)
		r.bytes, _ = strconv.ParseInt(rec[6], 10, 64)
		r.rssKiB, _ = strconv.ParseInt(rec[7], 10, 64)
		out = append(out, r)
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(dir string, rw *row) {
	if len(rw.runs) == 0 {
		return
	}
	var secs, cpus []float64
	var rss int64
	rw.OK = true
	phases := map[string][]float64{}
	ceil := map[string][]float64{}
	for _, r := range rw.runs {
		secs = append(secs, r.seconds)
		rss = max(rss, r.rssKiB)
		if _, v, ok := strings.Cut(r.extra, "client_cpu_s="); ok {
			v, _, _ = strings.Cut(v, ";")
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				cpus = append(cpus, f)
			}
		}
		rw.Versions, rw.Bytes = r.versions, r.bytes
		if r.exit != "0" {
			rw.OK = false
			rw.Problem = fmt.Sprintf("exit code %s in rep %d%s (%s.err)", r.exit, r.rep, firstFailure(filepath.Join(dir, r.log)), r.log)
		} else if r.dest != "" && r.dest != strconv.FormatInt(r.versions, 10) {
			rw.OK = false
			rw.Problem = fmt.Sprintf("rep %d: the destination holds %s versions, the source %d", r.rep, r.dest, r.versions)
		}
		for k, v := range s3backfillPhases(filepath.Join(dir, r.log+".err")) {
			phases[k] = append(phases[k], v)
		}
		for k, v := range ceilingStats(filepath.Join(dir, r.log+".out")) {
			ceil[k] = append(ceil[k], v)
		}
	}
	rw.Runs = len(rw.runs)
	rw.Median, rw.Min, rw.Max = median(secs), slices.Min(secs), slices.Max(secs)
	rw.RSSMiB = float64(rss) / 1024
	if len(cpus) > 0 {
		rw.CPU = median(cpus)
	}
	if rw.Median > 0 {
		rw.Rate = float64(rw.Versions) / rw.Median
		if rw.Bytes > 0 {
			rw.MiBps = float64(rw.Bytes) / (1 << 20) / rw.Median
		}
	}
	if len(phases) > 0 {
		rw.Phases = map[string]float64{}
		for k, v := range phases {
			rw.Phases[k] = median(v)
		}
	}
	if len(ceil) > 0 {
		rw.Ceiling = map[string]float64{}
		for k, v := range ceil {
			rw.Ceiling[k] = median(v)
		}
	}
}

// firstFailure is why the first version failed (s3backfill's report of
// failed versions), or the last line of the run's stderr.
func firstFailure(base string) string {
	if f, err := os.Open(base + ".failed.csv"); err == nil {
		defer f.Close()
		recs, _ := csv.NewReader(f).ReadAll()
		if len(recs) > 1 && len(recs[1]) > 6 {
			return ": " + recs[1][4] + " " + shorten(recs[1][6], 160)
		}
	}
	b, err := os.ReadFile(base + ".err")
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return ": " + shorten(lines[len(lines)-1], 160)
}

// requestIDs are the SDK's request and host ids in an error message.
var requestIDs = regexp.MustCompile(`RequestID: [^,]*, HostID: [^,]*, `)

func shorten(s string, n int) string {
	s = requestIDs.ReplaceAllString(strings.ReplaceAll(s, "|", "/"), "")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// doneIn matches the last progress line of a phase (s3backfill's log, not
// on a terminal): msg="copy: 5000/5000 versions copied, ... (done in 6.2s)".
var doneIn = regexp.MustCompile(`msg="(scan|plan|copy): .*\(done in ([0-9.a-zµ]+)\)"`)

func s3backfillPhases(path string) map[string]float64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := doneIn.FindStringSubmatch(sc.Text()); m != nil {
			if d, err := time.ParseDuration(m[2]); err == nil {
				out[m[1]] = d.Seconds()
			}
		}
	}
	return out
}

// ceilingStats reads the ceiling's JSON line: listing time and requests
// per version.
func ceilingStats(path string) map[string]float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var res struct {
		Listed      int              `json:"listed"`
		ListSeconds float64          `json:"list_seconds"`
		CopySeconds float64          `json:"copy_seconds"`
		Requests    map[string]int64 `json:"requests"`
	}
	if json.Unmarshal(b, &res) != nil || res.Listed == 0 {
		return nil
	}
	var copyReqs int64
	for op, n := range res.Requests {
		if op != "ListObjectVersions" {
			copyReqs += n
		}
	}
	return map[string]float64{"list_seconds": res.ListSeconds, "copy_seconds": res.CopySeconds,
		"copy_requests_per_version": float64(copyReqs) / float64(res.Listed)}
}

func ratio(rw *row, rows []*row) {
	if rw.Ref == "" || rw.Runs == 0 {
		return
	}
	if name, ok := strings.CutPrefix(rw.Ref, "time:"); ok {
		rw.ratioKind = "time"
		if ref := find(rows, rw.Scenario, name); ref != nil && ref.Median > 0 {
			rw.Ratio = rw.Median / ref.Median
		}
		return
	}
	rw.ratioKind = "rate"
	var ref *row
	if rw.Ref == "ceiling:best" {
		for _, r := range rows {
			if r.Scenario == rw.Scenario && strings.HasPrefix(r.Name, "ceiling") && r.OK && (ref == nil || r.Rate > ref.Rate) {
				ref = r
			}
		}
		if ref != nil {
			rw.Ref = "best ceiling: " + ref.Name
		}
	} else {
		ref = find(rows, rw.Scenario, rw.Ref)
	}
	if ref != nil && ref.Rate > 0 {
		rw.Ratio = rw.Rate / ref.Rate
	}
}

func find(rows []*row, scenario, name string) *row {
	for _, r := range rows {
		if r.Scenario == scenario && r.Name == name {
			return r
		}
	}
	return nil
}

var titles = map[string]string{
	"small":    "small: one version each × 4 KiB, unencrypted",
	"versions": "versions: 5 versions per key × 4 KiB, every version in order",
	"ssec":     "SSE-C, one customer key, 4 KiB objects",
	"ssec4":    "SSE-C, 4 customer keys, the right one found per object, 4 KiB objects",
	"large":    "large: 4 objects, server-side copy",
	"streamed": "streamed: the large set from one server to the other, through the client",
	"scan":     "scan: versions listed into the checkpoint",
	"rerun":    "rerun: a second run on a fully copied job (small set)",
	"manifest": "manifest: the small set from its S3 Inventory report; loading an inventory",
}

func table(w io.Writer, scenario string, rows []*row) {
	fmt.Fprintf(w, "### %s\n\n", titles[scenario])
	var loads []float64
	for _, rw := range rows {
		for _, r := range rw.runs {
			if rw.Scenario != scenario {
				continue
			}
			if _, v, ok := strings.Cut(r.extra, "load1="); ok {
				v, _, _ = strings.Cut(v, ";")
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					loads = append(loads, f)
				}
			}
		}
	}
	if len(loads) > 0 {
		fmt.Fprintf(w, "Load average (1 min) when the runs started: %.1f–%.1f, median %.1f (2 cores; others' tests included).\n\n",
			slices.Min(loads), slices.Max(loads), median(loads))
	}
	fmt.Fprintln(w, "| row | W | runs | median s | min–max s | versions/s | MiB/s | ratio | peak RSS MiB | client CPU s | notes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, rw := range rows {
		if rw.Scenario != scenario {
			continue
		}
		if rw.NA != "" {
			fmt.Fprintf(w, "| %s | | | | | | | | | | n/a: %s |\n", rw.Name, rw.NA)
			continue
		}
		ratio := ""
		switch {
		case rw.Ratio == 0:
		case rw.ratioKind == "time":
			ratio = fmt.Sprintf("%.1f%% of %s", 100*rw.Ratio, strings.TrimPrefix(rw.Ref, "time:"))
		default:
			ratio = fmt.Sprintf("%.2f× %s", rw.Ratio, rw.Ref)
		}
		mibps := ""
		if rw.MiBps > 0 {
			mibps = fmt.Sprintf("%.1f", rw.MiBps)
		}
		var notes []string
		if !rw.OK {
			notes = append(notes, "**FAILED: "+rw.Problem+"**")
		}
		if p := rw.Phases; p != nil {
			notes = append(notes, fmt.Sprintf("scan %.1f s, plan %.1f s, copy %.1f s", p["scan"], p["plan"], p["copy"]))
		}
		if c := rw.Ceiling; c != nil {
			notes = append(notes, fmt.Sprintf("listing %.2f s, %.2f copy requests/version", c["list_seconds"], c["copy_requests_per_version"]))
		}
		for _, e := range strings.Split(rw.Extra, ";") {
			if e != "" && !strings.HasPrefix(e, "client_cpu_s=") && !strings.HasPrefix(e, "load1=") {
				notes = append(notes, e)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.2f–%.2f | %.0f | %s | %s | %.0f | %.2f | %s |\n", rw.Name, rw.Workers, rw.Runs,
			rw.Median, rw.Min, rw.Max, rw.Rate, mibps, ratio, rw.RSSMiB, rw.CPU, strings.Join(notes, "; "))
	}
	fmt.Fprintln(w)
}

func seeding(w io.Writer, dir string) {
	f, err := os.Open(filepath.Join(dir, "seed.jsonl"))
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(w, "### Seeding (parallel PUTs, 64 in flight)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| bucket | versions | seconds | versions/s |")
	fmt.Fprintln(w, "|---|---|---|---|")
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s struct {
			Bucket   string  `json:"bucket"`
			Versions int     `json:"versions"`
			Seconds  float64 `json:"seconds"`
			Rate     float64 `json:"versions_per_second"`
			Already  bool    `json:"already_seeded"`
		}
		if json.Unmarshal(sc.Bytes(), &s) != nil || seen[s.Bucket] {
			continue
		}
		seen[s.Bucket] = true
		if s.Already {
			fmt.Fprintf(w, "| %s | %d | (seeded before this run) | |\n", s.Bucket, s.Versions)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.0f |\n", s.Bucket, s.Versions, s.Seconds, s.Rate)
	}
	fmt.Fprintln(w)
}

type target struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Verdict  string `json:"verdict"`
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// best is the fastest row of a scenario whose name starts with prefix.
func best(rows []*row, scenario, prefix string) *row {
	var b *row
	for _, r := range rows {
		if r.Scenario == scenario && strings.HasPrefix(r.Name, prefix) && r.Runs > 0 && (b == nil || r.Rate > b.Rate) {
			b = r
		}
	}
	return b
}

func checkTargets(rows []*row) []target {
	var out []target
	has := func(s string) bool { return slices.ContainsFunc(rows, func(r *row) bool { return r.Scenario == s }) }
	ratioTarget := func(s string, min float64) {
		if !has(s) {
			return
		}
		for _, r := range rows {
			if r.Scenario != s || !strings.HasPrefix(r.Name, "s3backfill") || r.Runs == 0 || r.Ratio == 0 {
				continue
			}
			out = append(out, target{s, fmt.Sprintf("≥ %.2f× the ceiling (%s)", min, r.Name),
				fmt.Sprintf("%.2f× (%s)", r.Ratio, r.Ref), verdict(r.OK && r.Ratio >= min)})
		}
	}
	ratioTarget("small", 0.9)
	if b := best(rows, "small", "s3backfill"); b != nil {
		var ahead = true
		var slowest []string
		for _, r := range rows {
			if r.Scenario == "small" && r.Runs > 0 && !strings.HasPrefix(r.Name, "s3backfill") && !strings.HasPrefix(r.Name, "ceiling") {
				slowest = append(slowest, fmt.Sprintf("%s %.0f/s", strings.Fields(r.Name)[0], r.Rate))
				if r.OK && r.Rate >= b.Rate {
					ahead = false
				}
			}
		}
		v := verdict(ahead)
		if len(slowest) == 0 {
			v = "n/a (no peer ran)"
		}
		out = append(out, target{"small", "ahead of every peer", fmt.Sprintf("s3backfill %.0f/s; %s", b.Rate, strings.Join(slowest, ", ")), v})
	}
	ratioTarget("versions", 0.85)
	ratioTarget("ssec", 0.85)
	ratioTarget("ssec4", 0.85)
	if b, c := best(rows, "large", "s3backfill"), best(rows, "large", "ceiling"); b != nil && c != nil {
		out = append(out, target{"large", "≥ 0.9× the ceiling's best layout",
			fmt.Sprintf("%.2f× (%s %.0f MiB/s vs %s %.0f MiB/s)", b.Rate/c.Rate, b.Name, b.MiBps, c.Name, c.MiBps), verdict(b.OK && b.Rate/c.Rate >= 0.9)})
	}
	// The defaults replay the source's parts (to keep its ETag): against
	// the ceiling making the same calls.
	for _, r := range rows {
		if r.Scenario == "large" && strings.HasPrefix(r.Name, "s3backfill (defaults") && r.Ratio > 0 {
			out = append(out, target{"large", "defaults ≥ 0.9× the ceiling replaying the same parts",
				fmt.Sprintf("%.2f× (%s)", r.Ratio, r.Ref), verdict(r.OK && r.Ratio >= 0.9)})
		}
	}
	if has("scan") {
		minRate, maxRSS, minRSS := math.Inf(1), 0.0, math.Inf(1)
		for _, r := range rows {
			if r.Scenario == "scan" && strings.HasPrefix(r.Name, "s3backfill") && r.Runs > 0 {
				minRate = min(minRate, r.Rate)
				maxRSS = max(maxRSS, r.RSSMiB)
				minRSS = min(minRSS, r.RSSMiB)
			}
		}
		out = append(out, target{"scan", "≥ 20,000 versions/s into the checkpoint", fmt.Sprintf("slowest size: %.0f/s", minRate), verdict(minRate >= 20000)})
		out = append(out, target{"scan", "peak RSS flat, under 150 MiB, 10k to 1M", fmt.Sprintf("%.0f to %.0f MiB", minRSS, maxRSS), verdict(maxRSS < 150)})
	}
	for _, r := range rows {
		if r.Scenario == "streamed" && strings.HasPrefix(r.Name, "s3backfill") && r.Runs > 0 {
			limit := 0.0
			if _, v, ok := strings.Cut(r.Extra, "rss_limit_mib="); ok {
				v, _, _ = strings.Cut(v, ";")
				limit, _ = strconv.ParseFloat(v, 64)
			}
			out = append(out, target{"streamed", fmt.Sprintf("memory ≤ part size × concurrency + 64 MiB = %.0f MiB (%s)", limit, r.Name),
				fmt.Sprintf("%.0f MiB, %.0f MiB/s", r.RSSMiB, r.MiBps), verdict(r.OK && r.RSSMiB <= limit)})
		}
	}
	for _, r := range rows {
		switch {
		case r.Scenario != "manifest" || r.Runs == 0:
		case strings.HasPrefix(r.Name, "s3backfill --manifest --read-back never") && r.Ratio > 0:
			out = append(out, target{"manifest", fmt.Sprintf("within 1.15× of the copy-only ceiling (%s)", r.Name),
				fmt.Sprintf("%.2f× (%s)", r.Ratio, r.Ref), verdict(r.OK && r.Ratio >= 1/1.15)})
			if mc := find(rows, "manifest", "mc mirror (auto concurrency)"); mc != nil && mc.Runs > 0 {
				out = append(out, target{"manifest", fmt.Sprintf("ahead of mc (%s)", r.Name),
					fmt.Sprintf("%.0f/s vs mc %.0f/s", r.Rate, mc.Rate), verdict(r.OK && r.Rate > mc.Rate)})
			}
		case strings.HasPrefix(r.Name, "s3backfill scan --manifest"):
			out = append(out, target{"manifest", fmt.Sprintf("≥ 50,000 versions/s, peak RSS < 150 MiB (%s)", r.Name),
				fmt.Sprintf("%.0f/s, %.0f MiB", r.Rate, r.RSSMiB), verdict(r.OK && r.Rate >= 50000 && r.RSSMiB < 150)})
		}
	}
	if r := find(rows, "rerun", "s3backfill rerun (nothing to do)"); r != nil && r.Ratio > 0 {
		out = append(out, target{"rerun", "under 5% of the first run's time", fmt.Sprintf("%.1f%% (%.2f s)", 100*r.Ratio, r.Median), verdict(r.OK && r.Ratio < 0.05)})
	}
	return out
}

// traced is one line of requests.jsonl.
type traced struct {
	Scenario      string             `json:"scenario"`
	Tool          string             `json:"tool"`
	Versions      int64              `json:"versions"`
	Requests      map[string]int64   `json:"requests"`
	Errors        map[string]int64   `json:"errors"` // by operation and status, e.g. "HeadObject 400"
	ServerSeconds map[string]float64 `json:"server_seconds"`
}

func countTrace(path string, buckets []string, scenario, tool string, versions int64, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	t := traced{Scenario: scenario, Tool: tool, Versions: versions,
		Requests: map[string]int64{}, Errors: map[string]int64{}, ServerSeconds: map[string]float64{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			API        string `json:"api"`
			StatusCode int    `json:"statusCode"`
			Duration   int64  `json:"duration"` // ns
			Type       string `json:"type"`
			Path       string `json:"path"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.API == "" || e.Type != "S3" || !onBuckets(e.Path, buckets) {
			continue
		}
		api := strings.TrimPrefix(e.API, "s3.")
		t.Requests[api]++
		t.ServerSeconds[api] += float64(e.Duration) / 1e9
		if e.StatusCode >= 300 {
			t.Errors[fmt.Sprintf("%s %d", api, e.StatusCode)]++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(t)
}

// onBuckets: a request path is "/" (ListBuckets) or in one of the buckets
// (other clients of the lab are not counted).
func onBuckets(path string, buckets []string) bool {
	if path == "/" || len(buckets) == 0 || buckets[0] == "" {
		return true
	}
	b, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return slices.Contains(buckets, b)
}

// requests prints the request counts of the traced runs.
func requests(w io.Writer, dir string) {
	f, err := os.Open(filepath.Join(dir, "requests.jsonl"))
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(w, "### Requests per version (MinIO trace of one run each)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | tool | versions | requests/version | by operation (per version) | errors | server time s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var t traced
		if json.Unmarshal(sc.Bytes(), &t) != nil || t.Versions == 0 {
			continue
		}
		var total int64
		var ops []string
		for op := range t.Requests {
			ops = append(ops, op)
		}
		slices.SortFunc(ops, func(a, b string) int { return int(t.Requests[b] - t.Requests[a]) })
		var parts, errs []string
		var secs float64
		for _, op := range ops {
			total += t.Requests[op]
			secs += t.ServerSeconds[op]
			parts = append(parts, fmt.Sprintf("%s %.2f", op, float64(t.Requests[op])/float64(t.Versions)))
		}
		for e, n := range t.Errors {
			errs = append(errs, fmt.Sprintf("%s ×%d", e, n))
		}
		slices.Sort(errs)
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %s | %s | %.1f |\n", t.Scenario, t.Tool, t.Versions,
			float64(total)/float64(t.Versions), strings.Join(parts, ", "), strings.Join(errs, ", "), secs)
	}
	fmt.Fprintln(w)
}
