package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MoveStats says what MoveToPostgres copied.
type MoveStats struct {
	Job                             string
	Versions, Uploads, Parts, Scans int64
}

// movedTables are copied in this order (uploads before their parts).
var movedTables = []string{"job", "scans", "versions", "uploads", "upload_parts", "runs"}

// identities are the columns PostgreSQL numbers itself, whose sequences
// must continue after the ids copied.
var identities = map[string]string{"scans": "scan_no", "versions": "id", "runs": "run_no"}

// MoveToPostgres copies the SQLite checkpoint src (open for a run: its lock
// keeps any other process off it) into job's schema in the PostgreSQL
// database at rawURL: settings, scans, every row with its plan and outcome,
// the unfinished uploads with their parts, and the runs, in one
// transaction. Ids are kept, so an upload stays tied to its row. A
// database that already holds the job, or any process of it, is refused.
// src is left as it was.
func MoveToPostgres(ctx context.Context, src *DB, rawURL, job string) (MoveStats, error) {
	if src.d != sqlite {
		return MoveStats{}, usagef("--from must be an SQLite checkpoint file")
	}
	if _, found, err := src.Settings(ctx); err != nil {
		return MoveStats{}, err
	} else if !found {
		return MoveStats{}, usagef("%s holds no job yet: nothing to move", src.path)
	}
	dst, err := openPostgres(ctx, rawURL, job)
	if err != nil {
		return MoveStats{}, err
	}
	defer dst.closePools()
	var exists bool
	if err := dst.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)`, dst.pg.schema).Scan(&exists); err != nil {
		return MoveStats{}, dst.pgErr("look for the job", err)
	}
	if exists {
		return MoveStats{}, usagef("%s already holds a job %q: name another with --job, or drop its schema %s first",
			dst.pg.where, job, dst.pg.schema)
	}
	if err := dst.inMigration(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `CREATE SCHEMA `+quoteIdent(dst.pg.schema))
		return err
	}); err != nil {
		return MoveStats{}, dst.pgErr("create the job's schema", err)
	}
	if err := dst.migrate(ctx); err != nil {
		return MoveStats{}, dst.pgErr("migrate", err)
	}
	st := MoveStats{Job: job}
	counts := map[string]*int64{"versions": &st.Versions, "uploads": &st.Uploads, "upload_parts": &st.Parts, "scans": &st.Scans}
	err = dst.inTx(ctx, "move the job", func(tx *txn) error {
		// Under the job's lock: no worker joins a job half-moved.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, dst.pg.migrateLock); err != nil {
			return err
		}
		for _, table := range movedTables {
			n, err := moveTable(ctx, src, tx, table)
			if err != nil {
				return fmt.Errorf("move %s: %w", table, err)
			}
			if c, ok := counts[table]; ok {
				*c = n
			}
			if col, ok := identities[table]; ok && n > 0 {
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence(?, ?), (SELECT MAX(`+col+`) FROM `+table+`))`,
					quoteIdent(dst.pg.schema)+"."+table, col); err != nil {
					return fmt.Errorf("move %s: %w", table, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		// Nothing of the job stays behind: the next try starts clean.
		_, derr := dst.w.ExecContext(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+quoteIdent(dst.pg.schema)+` CASCADE`)
		return MoveStats{}, errors.Join(dst.pgErr("move", err), derr)
	}
	return st, nil
}

// moveBatch is how many rows one INSERT carries.
const moveBatch = 200

// moveTable copies every row of table from src into tx, the columns both
// sides have, and returns how many.
func moveTable(ctx context.Context, src *DB, tx *txn, table string) (int64, error) {
	types, err := pgColumns(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	var cols []string
	rows, err := src.w.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return 0, err
		}
		if _, ok := types[c]; ok {
			cols = append(cols, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, fmt.Errorf("no column in common")
	}
	rows, err = src.w.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		n     int64
		batch []any
		inRow = len(cols)
	)
	insert := func() error {
		if len(batch) == 0 {
			return nil
		}
		one := "(" + placeholders(inRow) + ")"
		values := strings.TrimSuffix(strings.Repeat(one+", ", len(batch)/inRow), ", ")
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES `+values, batch...)
		batch = batch[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, inRow)
		ptrs := make([]any, inRow)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range cols {
			if vals[i], err = toPostgres(vals[i], types[c]); err != nil {
				return n, fmt.Errorf("column %s: %w", c, err)
			}
		}
		batch = append(batch, vals...)
		if n++; len(batch) >= moveBatch*inRow {
			if err := insert(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, insert()
}

// pgColumns maps the columns of table in the job's schema to their types.
func pgColumns(ctx context.Context, tx *txn, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return nil, err
		}
		out[c] = t
	}
	return out, rows.Err()
}

// toPostgres converts a value SQLite stored to the PostgreSQL column type.
func toPostgres(v any, pgType string) (any, error) {
	switch x := v.(type) {
	case int64:
		if pgType == "boolean" {
			return x != 0, nil
		}
	case []byte:
		return string(x), nil
	case time.Time:
		return formatStamp(x), nil
	}
	return v, nil
}
