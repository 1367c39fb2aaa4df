package job

import (
	"context"
	"log/slog"

	"github.com/s3backfill/s3backfill/planner"
)

// Text from a server (an error message, an echoed header) may hold key
// material: a buggy or hostile S3-compatible server can echo a request's
// headers. Everything that leaves the job — what it stores, logs and
// returns — passes through the key ring's Scrub first.

// scrubbingStore scrubs the messages a job stores, which the report shows.
type scrubbingStore struct {
	Store
	keys *planner.KeyRing
}

func (s scrubbingStore) Record(o planner.Outcome) error {
	o.Message = s.keys.Scrub(o.Message)
	return s.Store.Record(o)
}

func (s scrubbingStore) SavePlans(ctx context.Context, plans []planner.Plan) error {
	out := make([]planner.Plan, len(plans))
	for i, p := range plans {
		p.Reason = s.keys.Scrub(p.Reason)
		out[i] = p
	}
	return s.Store.SavePlans(ctx, out)
}

func (s scrubbingStore) SaveVerifications(ctx context.Context, vs []planner.Verification) error {
	out := make([]planner.Verification, len(vs))
	for i, v := range vs {
		v.Message = s.keys.Scrub(v.Message)
		out[i] = v
	}
	return s.Store.SaveVerifications(ctx, out)
}

// scrubbingHandler scrubs log records: the message and every attribute
// that prints as text (errors included).
type scrubbingHandler struct {
	slog.Handler
	keys *planner.KeyRing
}

func (h scrubbingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.keys.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h scrubbingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return scrubbingHandler{h.Handler.WithAttrs(clean), h.keys}
}

func (h scrubbingHandler) WithGroup(name string) slog.Handler {
	return scrubbingHandler{h.Handler.WithGroup(name), h.keys}
}

// attr scrubs one attribute. Values that are not text (numbers, times) are
// kept; anything else is replaced by its scrubbed text.
func (h scrubbingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		clean := make([]any, len(as))
		for i, g := range as {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindString, slog.KindAny:
		return slog.String(a.Key, h.keys.Scrub(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// scrubbedError is an error whose text is scrubbed; errors.Is and As still
// see the error it wraps.
type scrubbedError struct {
	err  error
	text string
}

func (e scrubbedError) Error() string { return e.text }
func (e scrubbedError) Unwrap() error { return e.err }

// scrub returns err with its text scrubbed of key material.
func (j *Job) scrub(err error) error {
	if err == nil || j.Keys.Len() == 0 {
		return err
	}
	return scrubbedError{err, j.Keys.Scrub(err.Error())}
}
