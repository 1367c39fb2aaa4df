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

// planUpdate writes a plan, unless a run claimed the row meanwhile.
var planUpdate = rowUpdate{
	cols: []col{{"inspected", "BOOLEAN"}, {"facts", "TEXT"}, {"senc", "TEXT"}, {"skms", "TEXT"}, {"sssec", "TEXT"}, {"sbk", "BOOLEAN"},
		{"repl", "TEXT"}, {"ck_alg", "TEXT"}, {"ck_val", "TEXT"}, {"ck_type", "TEXT"}, {"archived", "BOOLEAN"},
		{"lmode", "TEXT"}, {"luntil", "TEXT"}, {"lhold", "BOOLEAN"},
		{"action", "TEXT"}, {"rule", "TEXT"}, {"dkey", "TEXT"}, {"renc", "TEXT"}, {"rkms", "TEXT"}, {"rssec", "TEXT"},
		{"rclass", "TEXT"}, {"rbk", "BOOLEAN"}, {"status", "TEXT"}, {"code", "TEXT"}, {"http", "INTEGER"}, {"msg", "TEXT"},
		{"now", "TEXT"}},
	set: `inspected = o.inspected, facts_from = o.facts, source_encryption = o.senc, kms_key_id = o.skms, ssec_key_id = o.sssec,
		bucket_key = o.sbk, replication_status = o.repl, checksum_algorithm = o.ck_alg, checksum = o.ck_val,
		checksum_type = o.ck_type, archived = o.archived, lock_mode = o.lmode, lock_until = o.luntil, legal_hold = o.lhold, action = o.action, rule_id = o.rule, dest_key = o.dkey,
		replica_encryption = o.renc, replica_kms_key_id = o.rkms, replica_ssec_key_id = o.rssec,
		replica_storage_class = o.rclass, replica_bucket_key = o.rbk, status = o.status, error_code = o.code,
		http_status = o.http, message = o.msg, updated_at = o.now`,
	where: `versions.status NOT IN ('copying', 'succeeded')`,
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
	now := db.stamp()
	rows := make([][]any, len(plans))
	for i, p := range plans {
		status, err := statusText(p.Status)
		if err != nil {
			return fmt.Errorf("save plan of row %d: %w", p.TaskID, err)
		}
		action, err := actionText(p.Action)
		if err != nil {
			return fmt.Errorf("save plan of row %d: %w", p.TaskID, err)
		}
		rows[i] = []any{p.TaskID, p.Inspected, p.From, string(p.Encryption), p.KMSKeyID, p.SSECKeyID, p.BucketKey, p.ReplicationStatus,
			p.Checksum.Algorithm, p.Checksum.Value, p.Checksum.Type, p.Archived, p.Lock.Mode, formatStamp(p.Lock.RetainUntil), p.Lock.LegalHold,
			action, p.RuleID, p.DestKey, string(p.ReplicaEncryption), p.ReplicaKMSKeyID, p.ReplicaSSECKeyID,
			p.ReplicaStorageClass, p.ReplicaBucketKey, status, p.ErrorCode, p.HTTPStatus, p.Reason, now}
	}
	u := planUpdate
	if db.wk != nil { // planned in this pass: no longer being planned
		u.set += ", plan_expires = NULL"
	}
	return db.inTx(ctx, "save plans", func(tx *txn) error {
		if err := u.exec(ctx, tx, rows); err != nil {
			return fmt.Errorf("save plans: %w", err)
		}
		if db.wk == nil {
			return nil
		}
		// The rows a run claimed meanwhile kept their plan: they are not
		// being planned either.
		ids := make([]any, len(plans))
		for i, p := range plans {
			ids[i] = p.TaskID
		}
		if _, err := tx.ExecContext(ctx, `UPDATE versions SET plan_expires = NULL
			WHERE id IN (`+placeholders(len(ids))+`) AND plan_expires IS NOT NULL`, ids...); err != nil {
			return fmt.Errorf("save plans: %w", err)
		}
		return nil
	})
}
