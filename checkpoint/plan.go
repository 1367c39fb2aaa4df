package checkpoint

import (
	"context"
	"fmt"

	"github.com/s3backfill/s3backfill/planner"
)

// PlanPage returns up to limit rows with id > afterID that are not done:
// pending, failed or skipped (a rerun may decide differently, e.g. after
// --replicate-kms was added), by id. Rows claimed by a run ("copying") keep
// their plan until the copy phase has settled them. Each row says whether a
// newer version of its key is already replicated (NewerReplicated).
func (db *DB) PlanPage(ctx context.Context, afterID int64, limit int) ([]planner.Row, error) {
	out, err := collectPlan(db.r.QueryContext(ctx, `SELECT `+db.rowColumns+`, `+newerReplicated+`
		FROM versions v
		WHERE id > ? AND status IN ('pending', 'failed', 'skipped') ORDER BY id LIMIT ?`, afterID, limit))
	if err != nil {
		return nil, fmt.Errorf("read rows to plan: %w", err)
	}
	return out, nil
}

// CountToPlan is the number of rows PlanPage will return in all.
func (db *DB) CountToPlan(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions
		WHERE status IN ('pending', 'failed', 'skipped')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows to plan: %w", err)
	}
	return n, nil
}

// SavePlans writes plans in one transaction. A plan's Decision.ErrorCode
// and Reason become the row's error code and message. Rows claimed by a
// run in the meantime keep their plan, whether still copying or already
// copied (PlanPage never returns a succeeded row: one is succeeded only
// by a copy run).
func (db *DB) SavePlans(ctx context.Context, plans []planner.Plan) error {
	if len(plans) == 0 {
		return nil
	}
	return db.inTx(ctx, "save plans", func(tx *txn) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE versions SET
			inspected = ?, source_encryption = ?, kms_key_id = ?, ssec_key_id = ?, bucket_key = ?, replication_status = ?,
			checksum_algorithm = ?, checksum = ?, checksum_type = ?, archived = ?,
			action = ?, rule_id = ?, dest_key = ?, replica_encryption = ?, replica_kms_key_id = ?, replica_ssec_key_id = ?,
			replica_storage_class = ?, replica_bucket_key = ?, status = ?, error_code = ?, http_status = ?, message = ?, updated_at = ?
			WHERE id = ? AND status NOT IN ('copying', 'succeeded')`)
		if err != nil {
			return fmt.Errorf("save plans: %w", err)
		}
		defer stmt.Close()
		now := db.stamp()
		for _, p := range plans {
			status, err := statusText(p.Status)
			if err != nil {
				return fmt.Errorf("save plan of row %d: %w", p.TaskID, err)
			}
			action, err := actionText(p.Action)
			if err != nil {
				return fmt.Errorf("save plan of row %d: %w", p.TaskID, err)
			}
			if _, err := stmt.ExecContext(ctx, p.Inspected, p.Encryption, p.KMSKeyID, p.SSECKeyID, p.BucketKey, p.ReplicationStatus,
				p.Checksum.Algorithm, p.Checksum.Value, p.Checksum.Type, p.Archived,
				action, p.RuleID, p.DestKey, p.ReplicaEncryption, p.ReplicaKMSKeyID, p.ReplicaSSECKeyID,
				p.ReplicaStorageClass, p.ReplicaBucketKey, status, p.ErrorCode, p.HTTPStatus, p.Reason, now, p.TaskID); err != nil {
				return fmt.Errorf("save plan of row %d: %w", p.TaskID, err)
			}
		}
		ids := make([]int64, len(plans))
		for i, p := range plans {
			ids[i] = p.TaskID
		}
		if err := db.planned(ctx, tx, ids); err != nil {
			return fmt.Errorf("save plans: %w", err)
		}
		return nil
	})
}
