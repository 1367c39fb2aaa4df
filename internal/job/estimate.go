package job

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/planner"
)

// An estimate says, from the plan in the checkpoint, what the copy phase
// will send: S3 requests by operation (a range where the count depends on
// what the server answers or which key opens a version), the bytes copied
// by S3 and through this machine, their price and the time it takes. It
// mirrors what the executor does for each planned task.

// Range is a count that is exact (Min == Max) or known to lie between two
// bounds.
type Range struct{ Min, Max int64 }

func (r *Range) add(min, max int64) { r.Min += min; r.Max += max }

func (r Range) String() string {
	if r.Min == r.Max {
		return thousands(r.Min)
	}
	return thousands(r.Min) + "–" + thousands(r.Max)
}

// Estimate is what the copy phase of a job will cost.
type Estimate struct {
	Requests      map[string]Range // by S3 operation
	Why           map[string]string
	ServerBytes   int64 // copied by S3 itself
	StreamedBytes int64 // read from the source through this machine
	Versions      int64 // versions and delete markers to copy
	Prices        Prices
	Rate          float64 // requests per second the time is estimated at
	RateFrom      string  // where that rate comes from
}

// estimateInput is what an estimate needs of a job's settings.
type estimateInput struct {
	stream        bool
	readBack      executor.ReadBack
	partSize      int64
	cutAtPartSize bool
	adoptExisting bool
	workers       int
	keys          int // SSE-C keys in the key file (0: not known)
	aclCopy       func(dest string) bool
}

func (s Settings) estimateInput(keys int) estimateInput {
	return estimateInput{stream: s.Stream, readBack: s.ReadBack, partSize: s.Spec.PartSize, cutAtPartSize: s.cutAtPartSize(),
		adoptExisting: !s.Spec.NoAdoptExisting, workers: s.Spec.Workers, keys: keys}
}

// estimate walks every row (by destination, key, oldest first) as the
// executor will meet them.
func estimate(ctx context.Context, rows RowReader, in estimateInput) (Estimate, error) {
	e := Estimate{Requests: map[string]Range{}, Why: map[string]string{}}
	req := func(op string, min, max int64, why string) {
		if min == 0 && max == 0 {
			return
		}
		r := e.Requests[op]
		r.add(min, max)
		e.Requests[op] = r
		if why != "" {
			e.Why[op] = why
		}
	}
	// The destination is listed once per batch of claimed keys holding a
	// key with no replica known (see executor.existingVersions); a key
	// with a version in doubt is listed on its own.
	batch := executor.ClaimBatch(in.workers)
	var (
		cur          planner.KeyCursor
		keyWork      bool // the current key has tasks to copy
		keyReplicas  bool // … and replicas already made
		keyClaimed   bool // … and tasks a run claimed before
		inBatch      int
		batchAligns  = map[string]bool{} // the destinations a batch lists
		first        = true
		rbMin, rbMax int64
	)
	if rbMin, rbMax = readBackRange(in.readBack); rbMin != rbMax {
		e.Why["HeadObject"] = "read-back auto: skipped where the copy's answer says all (AWS), made where it does not (MinIO)"
	}
	endBatch := func() {
		n := int64(len(batchAligns))
		req("ListObjectVersions", n, n, "")
		inBatch = 0
		clear(batchAligns)
	}
	endKey := func() {
		if !keyWork {
			return
		}
		inBatch++
		if in.adoptExisting && !keyReplicas && !keyClaimed {
			batchAligns[cur.Dest] = true
		}
		if inBatch == batch {
			endBatch()
		}
	}
	err := rows.EachRow(ctx, "", func(r planner.Row) error {
		if k := (planner.KeyCursor{Dest: r.Dest, Key: r.Key}); first || k != cur {
			endKey()
			cur, first, keyWork, keyReplicas, keyClaimed = k, false, false, false, false
		}
		switch {
		case r.Status == planner.StatusSucceeded:
			keyReplicas = true
			return nil
		case r.Status != planner.StatusPending && r.Status != planner.StatusCopying:
			return nil
		case !r.Action.Copies() && r.Action != planner.ReplayDelete:
			return nil
		}
		keyWork = true
		e.Versions++
		if !r.ClaimedAt.IsZero() || r.InDoubt() {
			keyClaimed = true
		}
		if r.InDoubt() {
			req("ListObjectVersions", 1, 1, "")
		}
		if r.Action == planner.ReplayDelete {
			req("DeleteObject", 1, 1, "")
			return nil
		}
		multipart := r.Action == planner.Multipart || (in.stream && r.Size > in.partSize)
		req("HeadObject", rbMin, rbMax, "")
		if in.aclCopy != nil && in.aclCopy(r.Dest) {
			req("GetObjectAcl", 1, 1, "")
		}
		if multipart || in.stream {
			// The source's metadata and tags, which a streamed copy or a
			// multipart upload must set itself.
			req("HeadObject", 1, 1, "")
			req("GetObjectTagging", 1, 1, "")
		}
		if in.stream {
			e.StreamedBytes += r.Size
		} else {
			e.ServerBytes += r.Size
		}
		if !multipart {
			if in.stream {
				req("GetObject", 1, 1, "")
				req("PutObject", 1, 1, "")
				return nil
			}
			tries := int64(1)
			if r.Encryption == planner.SSEC && r.SSECKeyID == "" && in.keys > 1 {
				tries = int64(in.keys) // its keys are tried on the copy
				e.Why["CopyObject"] = "SSE-C versions from an inventory: each wrong key tried costs a refused copy"
			}
			req("CopyObject", 1, tries, "")
			return nil
		}
		parts := int64(executor.PartCount(r.Size, in.partSize))
		if sp := planner.MultipartParts(r.ETag); sp > 1 && !in.cutAtPartSize {
			parts = int64(sp)
			req("HeadObject", parts, parts, "") // each part's size, to copy the source's layout
		}
		req("CompleteMultipartUpload", 1, 1, "")
		todo := parts // parts to send
		if r.HasUpload {
			// Resumed: its parts are listed, those finished not sent again.
			req("ListParts", 1, 1, "")
			todo = 0
		} else {
			req("CreateMultipartUpload", 1, 1, "")
		}
		if in.stream {
			req("GetObject", todo, parts, "")
			req("UploadPart", todo, parts, "")
		} else {
			req("UploadPartCopy", todo, parts, "")
		}
		return nil
	})
	if err != nil {
		return Estimate{}, err
	}
	endKey()
	endBatch()
	if n := e.Requests["ListObjectVersions"]; n.Max > 0 {
		e.Why["ListObjectVersions"] = "the destination, once per batch of keys with no replica yet, before copying them"
	}
	return e, nil
}

// Total is every request, as a range.
func (e Estimate) Total() Range {
	var t Range
	for _, r := range e.Requests {
		t.add(r.Min, r.Max)
	}
	return t
}

// Price is the price of the requests and bytes, as a range.
func (e Estimate) Price() (min, max float64) {
	for op, r := range e.Requests {
		min += e.Prices.Request(op, r.Min)
		max += e.Prices.Request(op, r.Max)
	}
	b := e.Prices.Bytes("streamed", e.StreamedBytes) + e.Prices.Bytes("server_side", e.ServerBytes)
	return min + b, max + b
}

// Write prints the estimate as a table.
func (e Estimate) Write(w io.Writer, title string) error {
	fmt.Fprintf(w, "%s (%s):\n", title, e.Prices.Label())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  request\tcount\tprice\t")
	for _, op := range slices.Sorted(maps.Keys(e.Requests)) {
		r := e.Requests[op]
		note := ""
		if why := e.Why[op]; why != "" && r.Min != r.Max {
			note = "(" + why + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", op, r, dollars(e.Prices.Request(op, r.Min), e.Prices.Request(op, r.Max)), note)
	}
	lo, hi := e.Price()
	fmt.Fprintf(tw, "  total\t%s\t%s\t\n", e.Total(), dollars(lo, hi))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "  (retries of throttled or failed requests come on top)")
	fmt.Fprintf(w, "  %s of %d versions copied by S3 (%s), %s through this machine (%s)\n",
		FormatSize(e.ServerBytes), e.Versions, dollars(e.Prices.Bytes("server_side", e.ServerBytes), -1),
		FormatSize(e.StreamedBytes), dollars(e.Prices.Bytes("streamed", e.StreamedBytes), -1))
	if e.Rate > 0 {
		t := e.Total()
		lo, hi := seconds(float64(t.Min)/e.Rate), seconds(float64(t.Max)/e.Rate)
		span := DescribeDuration(lo)
		if hi-lo >= time.Second {
			span += "–" + DescribeDuration(hi)
		}
		fmt.Fprintf(w, "  time: about %s at %.0f requests/s (%s)\n", span, e.Rate, e.RateFrom)
	}
	return nil
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Second)
}

// dollars prints a price or a range of prices (max < 0: one price).
func dollars(min, max float64) string {
	if max < 0 || fmt.Sprintf("%.4f", min) == fmt.Sprintf("%.4f", max) {
		return fmt.Sprintf("$%.4f", min)
	}
	return fmt.Sprintf("$%.4f–%.4f", min, max)
}

// thousands prints n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// estimateFromCounts is a quick estimate from the counts alone (no row
// is read, so status stays fast on any job): exact for single copies and
// delete markers; for copies in parts, the part count from the bytes and
// the part size; the destination listings as a range.
func estimateFromCounts(counts []planner.Count, in estimateInput) Estimate {
	e := Estimate{Requests: map[string]Range{}, Why: map[string]string{}}
	req := func(op string, min, max int64) {
		if max > 0 {
			r := e.Requests[op]
			r.add(min, max)
			e.Requests[op] = r
		}
	}
	rbMin, rbMax := readBackRange(in.readBack)
	var rows int64
	for _, c := range counts {
		if c.Status != planner.StatusPending && c.Status != planner.StatusCopying {
			continue
		}
		n := c.Rows
		switch c.Action {
		case planner.ReplayDelete:
			req("DeleteObject", n, n)
		case planner.Copy, planner.Multipart:
			req("HeadObject", rbMin*n, rbMax*n)
			parts := max(n, (c.Bytes+in.partSize-1)/in.partSize)
			multipart := c.Action == planner.Multipart
			if multipart || in.stream {
				req("HeadObject", n, n)
				req("GetObjectTagging", n, n)
			}
			switch {
			case multipart && in.stream:
				req("CreateMultipartUpload", n, n)
				req("CompleteMultipartUpload", n, n)
				req("GetObject", parts, parts)
				req("UploadPart", parts, parts)
			case multipart:
				req("CreateMultipartUpload", n, n)
				req("CompleteMultipartUpload", n, n)
				req("UploadPartCopy", parts, parts)
			case in.stream:
				req("GetObject", n, n)
				req("PutObject", n, n)
			default:
				req("CopyObject", n, n)
			}
			if in.stream {
				e.StreamedBytes += c.Bytes
			} else {
				e.ServerBytes += c.Bytes
			}
		default:
			continue
		}
		e.Versions += n
		rows += n
	}
	if in.adoptExisting && rows > 0 {
		req("ListObjectVersions", 0, (rows+int64(executor.ClaimBatch(in.workers))-1)/int64(executor.ClaimBatch(in.workers)))
	}
	return e
}

// readBackRange is how many HEADs a copy's read-back makes.
func readBackRange(mode executor.ReadBack) (min, max int64) {
	switch mode {
	case executor.ReadBackAlways:
		return 1, 1
	case executor.ReadBackNever:
		return 0, 0
	}
	return 0, 1
}
