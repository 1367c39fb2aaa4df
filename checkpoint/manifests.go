package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ManifestLoaded reports whether a scan loaded the manifest at location,
// with this ETag, whole.
func (db *DB) ManifestLoaded(ctx context.Context, location, etag string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM manifests WHERE location = ? AND etag = ?`, location, etag).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read manifests: %w", err)
	}
	return true, nil
}

// SaveManifest records that a scan loaded the manifest whole, and how many
// versions it named.
func (db *DB) SaveManifest(ctx context.Context, location, etag string, versions int64) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO manifests (location, etag, versions, loaded_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (location, etag) DO UPDATE SET versions = excluded.versions, loaded_at = excluded.loaded_at`,
		location, etag, versions, db.stamp())
	if err != nil {
		return fmt.Errorf("record manifest: %w", err)
	}
	return nil
}
