package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// planPage is how many rows are planned (and their plans committed) at a time.
const planPage = 1000

// plan inspects every version not yet done (HEAD, trying SSE-C keys) and
// applies the selection filters and the rules to it, for each destination.
// Versions are planned in parallel; plans are written a page at a time.
func (j *job) plan(ctx context.Context) error {
	total, err := j.db.CountToPlan(ctx)
	if err != nil {
		return err
	}
	bar := j.progress.bar("plan", "versions planned", total, 0)
	defer bar.finish()
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := j.db.PlanPage(ctx, after, planPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		plans := make([]checkpoint.Plan, len(page))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(j.settings.Workers)
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
				bar.add(len(rows), 0)
				return err
			})
			start = end
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := j.db.SavePlans(ctx, plans); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

// planVersion plans the rows of one source version into out. The error is
// returned only when the run must stop.
func (j *job) planVersion(ctx context.Context, rows []checkpoint.PlanRow, out []checkpoint.Plan) error {
	r0 := rows[0]
	lm, _ := time.Parse(time.RFC3339Nano, r0.LastModified)
	src := planner.Source{
		Key: r0.Key, VersionID: r0.VersionID, DeleteMarker: r0.DeleteMarker, Size: r0.Size,
		Encryption: planner.Encryption(r0.SourceEncryption), KMSKeyID: r0.KMSKeyID, SSECKeyID: r0.SSECKeyID,
		BucketKey: r0.BucketKey, Archived: r0.Archived, LastModified: lm, StorageClass: r0.StorageClass,
		ReplicationStatus: r0.ReplicationStatus, SourceParts: planner.MultipartParts(r0.ETag),
	}
	base := checkpoint.Plan{Inspection: r0.Inspection}
	base.Inspected = r0.Inspected || r0.DeleteMarker
	every := func(f func(p *checkpoint.Plan)) {
		for i, r := range rows {
			out[i] = base
			out[i].ID = r.ID
			f(&out[i])
		}
	}
	skipAll := func(reason string) {
		every(func(p *checkpoint.Plan) {
			p.Action, p.Status, p.Message = string(planner.Skip), checkpoint.StatusSkipped, reason
		})
	}
	failAll := func(err error, code string, status int) {
		every(func(p *checkpoint.Plan) {
			p.Action, p.Status, p.ErrorCode, p.HTTPStatus, p.Message = string(planner.Fail), checkpoint.StatusFailed, code, status, err.Error()
		})
	}
	filter := j.settings.Filter
	if reason := filter.ExcludesListed(src); reason != "" {
		skipAll(reason)
		return nil
	}
	bucket := j.source.Bucket
	// An SSE-C version is inspected again when the key that opened it is
	// gone, or none did: the key file may have changed since.
	if !base.Inspected || (src.Encryption == planner.SSEC && j.ring.ByID(src.SSECKeyID) == nil) {
		ins, err := inventory.Inspect(ctx, j.clients.src, bucket, r0.Key, r0.VersionID, j.ring.Candidates(r0.Key), j.ssecMix.mostly())
		if err != nil {
			code, status, class := executor.Classify(err)
			if class == executor.Fatal {
				return err
			}
			base.Inspected = false
			failAll(err, headErrorCode(code, status), status)
			return nil
		}
		j.ssecMix.saw(ins.Encryption == planner.SSEC)
		src.Encryption, src.KMSKeyID, src.SSECKeyID = ins.Encryption, ins.KMSKeyID, ins.SSECKeyID
		src.BucketKey, src.Archived, src.ReplicationStatus = ins.BucketKey, ins.Archived, ins.ReplicationStatus
		base = checkpoint.Plan{Inspection: checkpoint.Inspection{
			Inspected: true, SourceEncryption: string(ins.Encryption), KMSKeyID: ins.KMSKeyID, SSECKeyID: ins.SSECKeyID,
			BucketKey: ins.BucketKey, ReplicationStatus: ins.ReplicationStatus, Archived: ins.Archived,
			ChecksumAlgorithm: ins.Checksum.Algorithm, Checksum: ins.Checksum.Value, ChecksumType: ins.Checksum.Type,
		}}
	}
	if reason := filter.ExcludesInspected(src); reason != "" {
		skipAll(reason)
		return nil
	}
	var tags map[string]string
	if j.rules.cfg.NeedsTags() && !src.DeleteMarker {
		var err error
		if tags, err = inventory.Tags(ctx, j.clients.src, bucket, r0.Key, r0.VersionID); err != nil {
			code, status, class := executor.Classify(err)
			if class == executor.Fatal {
				return err
			}
			failAll(err, code, status)
			return nil
		}
	}
	for i, r := range rows {
		out[i] = base
		out[i].ID = r.ID
		rules, ok := j.rules.forRow(r.Key, r.Dest, tags)
		if !ok {
			out[i].Action, out[i].Status = string(planner.Skip), checkpoint.StatusSkipped
			out[i].Message = fmt.Sprintf("no enabled replication rule replicates this version to bucket %s", r.Dest)
			continue
		}
		s := src
		s.NewerReplicated = r.NewerReplicated
		d := planner.Decide(s, rules, j.ring)
		p := &out[i]
		p.Decision = checkpoint.Decision{Action: string(d.Action), RuleID: d.RuleID, DestKey: d.DestKey,
			ReplicaEncryption: string(d.ReplicaEncryption), ReplicaKMSKeyID: d.ReplicaKMSKeyID,
			ReplicaSSECKeyID: d.ReplicaSSECKeyID, ReplicaStorageClass: d.ReplicaStorageClass}
		p.Status, p.ErrorCode, p.Message = checkpoint.StatusPending, d.ErrorCode, d.Reason
		switch d.Action {
		case planner.Skip:
			p.Status = checkpoint.StatusSkipped
		case planner.Fail:
			p.Status = checkpoint.StatusFailed
		}
	}
	return nil
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
