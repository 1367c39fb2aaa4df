package job

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// planPage is how many rows are planned (and their plans committed) at a time.
const planPage = 1000

// Plan inspects every version not yet done (HEAD, trying SSE-C keys) and
// applies the selection filters and the rules to it, for each destination.
// Versions are planned in parallel; plans are written a page at a time.
func (j *Job) Plan(ctx context.Context) (err error) {
	end := j.phase("plan")
	defer func() {
		err = j.scrub(err)
		end(err)
	}()
	total, err := j.Store.CountToPlan(ctx)
	if err != nil {
		return err
	}
	if err := j.learning(ctx); err != nil {
		return err
	}
	bar := j.Progress.Start("plan", "versions planned", total, 0)
	defer bar.Finish()
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := j.Store.ClaimPlan(ctx, after, planPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		plans := make([]planner.Plan, len(page))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(j.settings.Spec.Workers)
		// The rows of one version (one per destination) are next to each
		// other: a scan writes them together. Each version is inspected once.
		for start := 0; start < len(page); {
			end := start + 1
			for end < len(page) && page[end].Key == page[start].Key && page[end].VersionID == page[start].VersionID {
				end++
			}
			rows, out := page[start:end], plans[start:end]
			g.Go(func() error {
				err := j.planVersion(gctx, rows, out)
				bar.Done(len(rows), 0, false)
				return err
			})
			start = end
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := j.Store.SavePlans(ctx, plans); err != nil {
			return err
		}
		if err := j.saveLearning(ctx); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

// planVersion plans the rows of one source version (one per destination)
// into out. The error is returned only when the run must stop.
func (j *Job) planVersion(ctx context.Context, rows []planner.Row, out []planner.Plan) error {
	r0 := rows[0]
	src := planner.Source{Version: r0.Version, Inspection: r0.Inspection}
	src.Inspected = src.Inspected || src.DeleteMarker // a delete marker has nothing to HEAD
	every := func(d planner.Decision, status planner.Status, httpStatus int) {
		for i, r := range rows {
			out[i] = planner.Plan{TaskID: r.ID, Inspection: src.Inspection, Decision: d, Status: status, HTTPStatus: httpStatus}
		}
	}
	failAll := func(err error, code string, httpStatus int) {
		every(planner.Decision{Action: planner.Fail, ErrorCode: code, Reason: err.Error()}, planner.StatusFailed, httpStatus)
	}
	filter := j.settings.Spec.Filter
	if reason := filter.ExcludesListed(src); reason != "" {
		every(planner.Decision{Action: planner.Skip, Reason: reason}, planner.StatusSkipped, 0)
		return nil
	}
	bucket := j.settings.Source.Bucket
	// An SSE-C version a manifest described has its keys tried on the copy
	// itself, where a CopyObject copies it (see keyOnCopy).
	src.KeyOnCopy = j.keyOnCopy(src)
	// An SSE-C version is inspected again when the key that opened it is
	// gone, or none did: the key file may have changed since. A version
	// the manifest described is inspected only with --inspect always.
	inspect := func() (stop error, failed bool) {
		heads := &trialCounter{Header: j.Source, n: &j.keyTrials}
		ins, err := inventory.Inspect(ctx, heads, bucket, r0.Key, r0.VersionID, j.Keys.Order(r0.Key, j.learned), j.ssecMix.mostly())
		j.learned.Saw(r0.Key, ins.SSECKeyID)
		if err != nil {
			code, status, class := s3err.Classify(err)
			if class == s3err.Fatal {
				return err, true
			}
			src.Inspected = false
			failAll(err, headErrorCode(code, status), status)
			return nil, true
		}
		j.ssecMix.saw(ins.Encryption == planner.SSEC)
		src.Inspection, src.KeyOnCopy = ins, false
		return nil, false
	}
	if !src.Inspected || (src.Encryption == planner.SSEC && j.Keys.ByID(src.SSECKeyID) == nil && !src.KeyOnCopy) ||
		(src.From == planner.FactsManifest && j.settings.Spec.Inspect == "always") {
		if stop, failed := inspect(); failed {
			return stop
		}
	}
	if reason := filter.ExcludesInspected(src); reason != "" {
		every(planner.Decision{Action: planner.Skip, Reason: reason}, planner.StatusSkipped, 0)
		return nil
	}
	var tags map[string]string
	if j.rules.cfg.NeedsTags() && !src.DeleteMarker {
		var err error
		if tags, err = inventory.Tags(ctx, j.Source, bucket, r0.Key, r0.VersionID); err != nil {
			code, status, class := s3err.Classify(err)
			if class == s3err.Fatal {
				return err
			}
			failAll(err, code, status)
			return nil
		}
	}
	j.decide(src, rows, tags, out)
	if src.KeyOnCopy && slices.ContainsFunc(out, func(p planner.Plan) bool { return p.Action == planner.Multipart }) {
		// Parts are copied with the key already known: find it by HEAD.
		if stop, failed := inspect(); failed {
			return stop
		}
		j.decide(src, rows, tags, out)
	}
	return nil
}

// keyOnCopy: an SSE-C version whose key a manifest did not say is planned
// without a HEAD, its keys tried on the copy itself (a wrong key is a 403
// with no side effect), when a single server-side CopyObject copies it.
// A streamed copy, a copy in parts and --inspect always find the key by
// HEAD first.
func (j *Job) keyOnCopy(src planner.Source) bool {
	return src.From == planner.FactsManifest && src.Encryption == planner.SSEC && src.SSECKeyID == "" &&
		j.Keys.Len() > 0 && !j.settings.Stream && j.settings.Spec.Inspect != "always"
}

// decide plans the rows of one inspected version into out, one per
// destination.
func (j *Job) decide(src planner.Source, rows []planner.Row, tags map[string]string, out []planner.Plan) {
	for i, r := range rows {
		p := planner.Plan{TaskID: r.ID, Inspection: src.Inspection}
		rules, ok := j.rules.forDest(r.Key, r.Dest, tags)
		if !ok {
			p.Decision = planner.Decision{Action: planner.Skip,
				Reason: fmt.Sprintf("no enabled replication rule replicates this version to bucket %s", r.Dest)}
			p.Status = planner.StatusSkipped
			out[i] = p
			continue
		}
		s := src
		s.NewerReplicated = r.NewerReplicated
		p.Decision = planner.Decide(s, rules, j.Keys)
		switch p.Action {
		case planner.Skip:
			p.Status = planner.StatusSkipped
		case planner.Fail:
			p.Status = planner.StatusFailed
		default:
			p.Status = planner.StatusPending
		}
		out[i] = p
	}
}

// ssecMix counts the SSE-C versions among those inspected, so that
// inspection can try a key first when most versions need one.
type ssecMix struct{ ssec, all atomic.Int64 }

func (m *ssecMix) saw(ssec bool) {
	m.all.Add(1)
	if ssec {
		m.ssec.Add(1)
	}
}

// mostly reports whether, after a few versions, most were SSE-C.
func (m *ssecMix) mostly() bool {
	all := m.all.Load()
	return all >= 8 && 2*m.ssec.Load() > all
}

// headErrorCode names a failed HEAD of the source in S3 Batch
// Replication's words where it has them. HEAD answers carry no error body,
// so the SDK only knows the status.
func headErrorCode(code string, status int) string {
	switch status {
	case 403:
		return "SrcHeadObjectNotPermitted"
	case 404:
		return "SrcKeyNotFound"
	}
	return code
}

// trialCounter counts the HEADs an inspection sends with an SSE-C key
// that does not open the version (a 403, or a 400 on a version that is not
// SSE-C): the requests key trials cost.
type trialCounter struct {
	inventory.Header
	n *atomic.Int64
}

func (c *trialCounter) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := c.Header.HeadObject(ctx, in, opts...)
	if err != nil && in.SSECustomerKey != nil {
		if st := s3err.Status(err); st == 403 || st == 400 {
			c.n.Add(1)
		}
	}
	return out, err
}
