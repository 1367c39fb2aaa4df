package job

import (
	"cmp"
	"io"
	"log/slog"
)

// NewLogger logs to w at level (debug, info, warn, error; "" is info) in
// format: text (key=value, the default) or json (slog's JSON handler: one
// object per event, for log collectors).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	name := cmp.Or(level, "info")
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return nil, Usagef("--log-level %q: want debug, info, warn or error", name)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, Usagef("--log-format %q: want text or json", format)
}
