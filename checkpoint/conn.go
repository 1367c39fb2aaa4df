package checkpoint

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// dialect is the SQL a backend speaks. The statements of this package are
// written once, in the subset SQLite and PostgreSQL share, with "?"
// placeholders; conn and txn translate them for PostgreSQL.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

// conn is a pool of one backend's connections that takes this package's
// statements as written. Outside a transaction, a statement that fails
// for a lost connection is sent again (retry: see retry.go).
type conn struct {
	*sql.DB
	d     dialect
	retry func(context.Context, func() error) error // nil: once
}

// txn is a transaction on a conn.
type txn struct {
	*sql.Tx
	d dialect
}

func (c *conn) do(ctx context.Context, fn func() error) error {
	if c.retry == nil {
		return fn()
	}
	return c.retry(ctx, fn)
}

func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = c.do(ctx, func() error {
		res, err = c.DB.ExecContext(ctx, c.d.sql(query), args...)
		return err
	})
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	err = c.do(ctx, func() error {
		rows, err = c.DB.QueryContext(ctx, c.d.sql(query), args...)
		return err
	})
	return rows, err
}

// QueryRowContext sends the query again while it fails for a lost
// connection (Row.Err); an error while the row is scanned is not retried.
func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) (row *sql.Row) {
	c.do(ctx, func() error {
		row = c.DB.QueryRowContext(ctx, c.d.sql(query), args...)
		return row.Err()
	})
	return row
}

func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (t *txn, err error) {
	err = c.do(ctx, func() error {
		var tx *sql.Tx
		if tx, err = c.DB.BeginTx(ctx, opts); err == nil {
			t = &txn{Tx: tx, d: c.d}
		}
		return err
	})
	return t, err
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.d.sql(query), args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.d.sql(query), args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.d.sql(query), args...)
}

func (t *txn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, t.d.sql(query))
}

// pgStatements caches the PostgreSQL form of each statement.
var pgStatements sync.Map // string → string

// sql is query in d's dialect. For PostgreSQL the placeholders become $1,
// $2, … (a "?" inside a quoted string or identifier stays) and SQLite's
// index hints go.
func (d dialect) sql(query string) string {
	if d == sqlite {
		return query
	}
	if q, ok := pgStatements.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote reopens at once: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	q := strings.ReplaceAll(b.String(), " INDEXED BY versions_work", "")
	pgStatements.Store(query, q)
	return q
}
