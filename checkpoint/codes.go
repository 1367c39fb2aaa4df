package checkpoint

import (
	"fmt"
	"strings"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// The SQL layer stores statuses and actions as text. The words are the
// schema's (see the CHECK on versions.status and the versions_work index);
// these maps are the only place that ties them to planner's constants.

var statusWords = map[planner.Status]string{
	planner.StatusPending:   "pending",
	planner.StatusCopying:   "copying",
	planner.StatusSucceeded: "succeeded",
	planner.StatusFailed:    "failed",
	planner.StatusSkipped:   "skipped",
}

var actionWords = map[planner.Action]string{
	"":                   "", // not planned yet
	planner.Copy:         "copy",
	planner.Multipart:    "multipart",
	planner.ReplayDelete: "delete-marker",
	planner.Skip:         "skip",
	planner.Fail:         "fail",
}

// statusText is the stored word for s.
func statusText(s planner.Status) (string, error) {
	if w, ok := statusWords[s]; ok {
		return w, nil
	}
	return "", fmt.Errorf("unknown status %q", s)
}

// statusOf reads a stored status.
func statusOf(w string) (planner.Status, error) {
	for s, sw := range statusWords {
		if sw == w {
			return s, nil
		}
	}
	return "", fmt.Errorf("unknown status %q in the checkpoint", w)
}

// actionText is the stored word for a.
func actionText(a planner.Action) (string, error) {
	if w, ok := actionWords[a]; ok {
		return w, nil
	}
	return "", fmt.Errorf("unknown action %q", a)
}

// actionOf reads a stored action.
func actionOf(w string) (planner.Action, error) {
	for a, aw := range actionWords {
		if aw == w {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown action %q in the checkpoint", w)
}

// sqlList is ('a', 'b', ...) of the stored words of the actions.
func sqlList(actions ...planner.Action) string {
	words := make([]string, len(actions))
	for i, a := range actions {
		words[i] = "'" + actionWords[a] + "'"
	}
	return "(" + strings.Join(words, ", ") + ")"
}

// copyActions are the planned actions that send requests to the
// destination.
var copyActions = sqlList(planner.Copy, planner.Multipart, planner.ReplayDelete)

// stampLayout is how times are stored: RFC 3339 with nanoseconds, UTC.
const stampLayout = time.RFC3339Nano

// formatStamp stores t; the zero time is stored as "".
func formatStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(stampLayout)
}

// parseStamp reads a stored time; "" is the zero time.
func parseStamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(stampLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q in the checkpoint", s)
	}
	return t, nil
}
