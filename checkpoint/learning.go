package checkpoint

import (
	"context"
	"fmt"

	"github.com/s3backfill/s3backfill/planner"
)

// KeyLearning is everything the job learned of which SSE-C keys open
// versions in which folders.
func (db *DB) KeyLearning(ctx context.Context) ([]planner.FolderKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT folder, key_id, versions FROM ssec_learning ORDER BY folder, key_id`)
	if err != nil {
		return nil, fmt.Errorf("read what was learned of SSE-C keys: %w", err)
	}
	defer rows.Close()
	var out []planner.FolderKey
	for rows.Next() {
		var fk planner.FolderKey
		if err := rows.Scan(&fk.Folder, &fk.KeyID, &fk.Versions); err != nil {
			return nil, fmt.Errorf("read what was learned of SSE-C keys: %w", err)
		}
		out = append(out, fk)
	}
	return out, rows.Err()
}

// SaveKeyLearning adds what was learned (versions opened since the last
// save) to what the checkpoint keeps, all or none.
func (db *DB) SaveKeyLearning(ctx context.Context, learned []planner.FolderKey) error {
	if len(learned) == 0 {
		return nil
	}
	return db.inTx(ctx, "record what was learned of SSE-C keys", func(tx *txn) error {
		for _, fk := range learned {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ssec_learning (folder, key_id, versions) VALUES (?, ?, ?)
				ON CONFLICT (folder, key_id) DO UPDATE SET versions = ssec_learning.versions + excluded.versions`,
				fk.Folder, fk.KeyID, fk.Versions); err != nil {
				return err
			}
		}
		return nil
	})
}
