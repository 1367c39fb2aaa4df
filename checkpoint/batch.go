package checkpoint

import (
	"context"
	"fmt"
	"strings"
)

// rowUpdate writes values to many rows of versions at once: an outcome or
// a plan each. SQLite runs one prepared statement per row (in-process, a
// statement costs microseconds); PostgreSQL one UPDATE … FROM (VALUES …)
// per chunk of rows, since a round trip per row would dominate.
type rowUpdate struct {
	// cols are the values' names and SQL types, in the order each row's
	// values come; the row's id comes first and is not listed.
	cols []col
	// set is the SET list, naming a new value o.<name> and a stored one
	// by versions.<column>.
	set string
	// where narrows the rows written (beside the id), or is "".
	where string
}

type col struct{ name, typ string }

// pgChunk is how many rows one PostgreSQL statement carries (its
// parameters stay far below the protocol's 65,535).
const pgChunk = 500

// exec writes rows: each is the row's id followed by its values.
func (u rowUpdate) exec(ctx context.Context, tx *txn, rows [][]any) error {
	where := ""
	if u.where != "" {
		where = " AND " + u.where
	}
	if tx.d == sqlite {
		// o.<name> becomes the row's parameter: SQLite numbers them.
		set := u.set
		for i := len(u.cols) - 1; i >= 0; i-- {
			set = strings.ReplaceAll(set, "o."+u.cols[i].name, fmt.Sprintf("?%d", i+2))
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE versions SET `+set+` WHERE id = ?1`+where)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r...); err != nil {
				return fmt.Errorf("row %v: %w", r[0], err)
			}
		}
		return nil
	}
	names := []string{"id"}
	one := []string{"CAST(? AS BIGINT)"}
	for _, c := range u.cols {
		names = append(names, c.name)
		one = append(one, "CAST(? AS "+c.typ+")")
	}
	tuple := "(" + strings.Join(one, ", ") + ")"
	for len(rows) > 0 {
		n := min(len(rows), pgChunk)
		args := make([]any, 0, n*len(names))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		values := strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, `UPDATE versions SET `+u.set+` FROM (VALUES `+values+`) AS o (`+strings.Join(names, ", ")+`)
			WHERE versions.id = o.id`+where, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
