package checkpoint

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A PostgreSQL server restarts, fails over, or drops a connection; the
// statements of this package are then sent again, each transaction whole,
// for as long as the worker's lease allows (see retry). SQLite is a file:
// nothing of this applies to it.

// transient reports whether err says the connection went away or the
// server is not there yet, or the transaction lost a race it may win the
// next time: the statement or transaction may be sent again.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, crash, cannot connect now
			pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// retrySpan is how long a statement is sent again: two thirds of the
// lease, after which the worker stops anyway; a reader a minute.
func (db *DB) retrySpan() time.Duration {
	if db.wk != nil {
		return db.wk.lease * 2 / 3
	}
	return time.Minute
}

// retry runs fn, and again while it fails transiently on PostgreSQL, with
// a growing pause, for up to retrySpan.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	err := fn()
	if db.d != postgres || !transient(err) {
		return err
	}
	start, pause := time.Now(), 100*time.Millisecond
	for transient(err) {
		if time.Since(start) > db.retrySpan() {
			return fmt.Errorf("PostgreSQL at %s did not answer for %s: %w", db.pg.where, time.Since(start).Round(time.Second), err)
		}
		if lerr := db.leaseErr(); lerr != nil {
			return lerr
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
		err = fn()
	}
	return err
}

// inTx runs fn in a transaction, whole again when it fails transiently;
// what names it in the errors of beginning and committing.
func (db *DB) inTx(ctx context.Context, what string, fn func(*txn) error) error {
	return db.retry(ctx, func() error {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}
