package job

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

// capturingStore keeps what a job stores, for the scrubbing tests; the
// methods these tests do not call are left to the nil Store.
type capturingStore struct {
	Store
	outcomes []planner.Outcome
	plans    []planner.Plan
	verified []planner.Verification
}

func (s *capturingStore) Record(o planner.Outcome) error {
	s.outcomes = append(s.outcomes, o)
	return nil
}
func (s *capturingStore) SavePlans(_ context.Context, ps []planner.Plan) error {
	s.plans = append(s.plans, ps...)
	return nil
}
func (s *capturingStore) SaveVerifications(_ context.Context, vs []planner.Verification) error {
	s.verified = append(s.verified, vs...)
	return nil
}

// TestScrubbing: a server that echoes a key (its base64 or its MD5) into
// its error text gets it replaced by the key's id in what the job stores,
// logs and returns.
func TestScrubbing(t *testing.T) {
	raw := bytes.Repeat([]byte{0x3C}, 32)
	b64 := base64.StdEncoding.EncodeToString(raw)
	sum := md5.Sum(raw)
	md5b64 := base64.StdEncoding.EncodeToString(sum[:])
	ring, err := planner.ParseKeyFile(strings.NewReader(`{"keys": [{"id": "tenant-a", "key": "` + b64 + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	echo := fmt.Sprintf("InvalidArgument: header x-amz-server-side-encryption-customer-key: %s (MD5 %s)", b64, md5b64)
	leaks := func(what, s string) {
		t.Helper()
		if strings.Contains(s, b64) || strings.Contains(s, md5b64) || strings.Contains(s, strings.TrimRight(b64, "=")) {
			t.Errorf("%s holds the key: %s", what, s)
		}
		if !strings.Contains(s, "[key tenant-a]") {
			t.Errorf("%s does not name the key by id: %s", what, s)
		}
	}

	capture := &capturingStore{}
	st := scrubbingStore{capture, ring}
	ctx := context.Background()
	if err := st.Record(planner.Outcome{TaskID: 1, Status: planner.StatusFailed, Message: echo}); err != nil {
		t.Fatal(err)
	}
	if err := st.SavePlans(ctx, []planner.Plan{{TaskID: 2, Decision: planner.Decision{Action: planner.Fail, Reason: echo}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveVerifications(ctx, []planner.Verification{{TaskID: 3, Message: echo}}); err != nil {
		t.Fatal(err)
	}
	leaks("a stored outcome", capture.outcomes[0].Message)
	leaks("a stored plan", capture.plans[0].Reason)
	leaks("a stored verification", capture.verified[0].Message)

	for _, mk := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
		func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
	} {
		var buf bytes.Buffer
		log := slog.New(scrubbingHandler{mk(&buf), ring})
		log.Debug("failed: "+echo, "err", errors.New(echo), "msg", echo, slog.Group("g", "inner", echo), "n", 7)
		log.With("err", errors.New(echo)).WithGroup("w").Warn("again", "x", echo)
		leaks("a log line", buf.String())
		if !strings.Contains(buf.String(), "7") {
			t.Errorf("a number attribute was lost: %s", buf.String())
		}
	}

	j := &Job{Deps: Deps{Keys: ring}}
	wrapped := j.scrub(fmt.Errorf("copy k@v: %w", UsageError{errors.New(echo)}))
	leaks("a returned error", wrapped.Error())
	var ue UsageError
	if !errors.As(wrapped, &ue) {
		t.Error("the scrubbed error lost what it wraps")
	}
	if (&Job{}).scrub(nil) != nil {
		t.Error("scrub(nil) is not nil")
	}
}
