package checkpoint

import (
	"context"
	"fmt"
)

// PlanRow is a row to plan, with what the planner needs to know about the
// rest of its key.
type PlanRow struct {
	Row
	// NewerReplicated: a newer version of the same key has already been
	// replicated, so copying this one now would put the replica's history
	// out of order.
	NewerReplicated bool
}

// PlanPage returns up to limit rows with id > afterID that are not done:
// pending, failed or skipped (a rerun may decide differently, e.g. after
// --replicate-kms was added). Rows claimed by a run ("copying") keep their
// plan until the copy phase has settled them.
func (db *DB) PlanPage(ctx context.Context, afterID int64, limit int) ([]PlanRow, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowColumns+`,
		EXISTS (SELECT 1 FROM versions n WHERE n.dest = v.dest AND n.key = v.key AND n.status = 'succeeded'
		        AND (n.scan_no > v.scan_no OR (n.scan_no = v.scan_no AND n.rank < v.rank)))
		FROM versions v
		WHERE id > ? AND status IN ('pending', 'failed', 'skipped') ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("read rows to plan: %w", err)
	}
	defer rows.Close()
	var out []PlanRow
	for rows.Next() {
		var pr PlanRow
		if pr.Row, err = scanRow(rows, &pr.NewerReplicated); err != nil {
			return nil, fmt.Errorf("read rows to plan: %w", err)
		}
		out = append(out, pr)
	}
	if err := rows.Err(); err != nil {
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

// Plan is what inspection and the planner decided for one row.
type Plan struct {
	ID int64
	Inspection

	Decision

	Status     string // pending, skipped or failed
	ErrorCode  string
	HTTPStatus int
	Message    string
}

// SavePlans writes plans in one transaction.
func (db *DB) SavePlans(ctx context.Context, plans []Plan) error {
	if len(plans) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save plans: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE versions SET
		inspected = ?, source_encryption = ?, kms_key_id = ?, ssec_key_id = ?, bucket_key = ?, replication_status = ?,
		checksum_algorithm = ?, checksum = ?, checksum_type = ?, archived = ?,
		action = ?, rule_id = ?, dest_key = ?, replica_encryption = ?, replica_kms_key_id = ?, replica_ssec_key_id = ?,
		replica_storage_class = ?, status = ?, error_code = ?, http_status = ?, message = ?, updated_at = ?
		WHERE id = ? AND status != 'copying'`)
	if err != nil {
		return fmt.Errorf("save plans: %w", err)
	}
	defer stmt.Close()
	now := db.stamp()
	for _, p := range plans {
		if _, err := stmt.ExecContext(ctx, p.Inspected, p.SourceEncryption, p.KMSKeyID, p.SSECKeyID, p.BucketKey, p.ReplicationStatus,
			p.ChecksumAlgorithm, p.Checksum, p.ChecksumType, p.Archived,
			p.Action, p.RuleID, p.DestKey, p.ReplicaEncryption, p.ReplicaKMSKeyID, p.ReplicaSSECKeyID,
			p.ReplicaStorageClass, p.Status, p.ErrorCode, p.HTTPStatus, p.Message, now, p.ID); err != nil {
			return fmt.Errorf("save plan of row %d: %w", p.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save plans: %w", err)
	}
	return nil
}
