package executor

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// TestKeyMaterialStaysOnRequests runs SSE-C copies that fail in every way
// the executor reports (API errors, a failed abort, a failed listing, a
// failed read-back, a key missing from the key file, a fatal error) and
// checks that no form of key material reaches an outcome, a log line at
// Debug level, the run's error, or a request line. The keys themselves
// must still reach the SSE-C headers, or the check proves nothing.
func TestKeyMaterialStaysOnRequests(t *testing.T) {
	ssec := func(id int64, vid string, size int64, action planner.Action) planner.Task {
		return planner.Task{Version: planner.Version{VersionID: vid, Size: size}, Inspection: planner.Inspection{Encryption: planner.SSEC, SSECKeyID: keyA.ID}, Decision: planner.Decision{Action: action, ReplicaEncryption: planner.SSEC, ReplicaSSECKeyID: keyB.ID}, ID: id}
	}
	h := newHarness(t)
	for key, v := range map[string]string{"f1": "v1", "f3": "v3", "f5": "v5"} {
		h.source(key, v, 10, keyA.Header())
	}
	h.source("f2", "v2", 6*mib, keyA.Header())
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		switch {
		case r.Op == "CopyObject" && r.Key == "f1":
			return s3fake.Error(http.StatusForbidden, "AccessDenied")
		case r.Op == "UploadPartCopy":
			return s3fake.Error(http.StatusBadRequest, "InvalidArgument")
		case r.Op == "AbortMultipartUpload":
			return s3fake.Error(http.StatusInternalServerError, "InternalError")
		case r.Op == "ListObjectVersions":
			return s3fake.Error(http.StatusForbidden, "AccessDenied")
		case r.Op == "CopyObject" && r.Key == "f5":
			return s3fake.Error(http.StatusBadRequest, "InvalidRequest")
		case r.Op == "HeadObject" && r.Bucket == dstBucket:
			return &s3fake.Reply{Status: http.StatusForbidden}
		}
		return nil
	})
	unknown := ssec(4, "v4", 10, planner.Copy)
	unknown.SSECKeyID = "gone"
	inDoubt := ssec(5, "v5", 10, planner.Copy)
	inDoubt.Status, inDoubt.ClaimedAt = planner.StatusCopying, time.Now()
	h.run(t,
		planner.KeyWork{Key: "f1", Tasks: []planner.Task{ssec(1, "v1", 10, planner.Copy)}},
		planner.KeyWork{Key: "f2", Tasks: []planner.Task{ssec(2, "v2", 6*mib, planner.Multipart)}},
		planner.KeyWork{Key: "f3", Tasks: []planner.Task{ssec(3, "v3", 10, planner.Copy)}},
		planner.KeyWork{Key: "f4", Tasks: []planner.Task{unknown}},
		planner.KeyWork{Key: "f5", Tasks: []planner.Task{inDoubt}},
	)

	// The run did fail in the ways intended.
	for id, code := range map[int64]string{1: "AccessDenied", 2: "InvalidArgument", 4: planner.CodeSSECKeyNotFound, 5: "InvalidRequest"} {
		if o := h.store.outcome(t, id); o.Status != planner.StatusFailed || o.ErrorCode != code {
			t.Errorf("task %d outcome = %+v, want failed %s", id, o, code)
		}
	}
	if o := h.store.outcome(t, 3); o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, "reading the replica back failed") {
		t.Errorf("task 3 outcome = %+v, want succeeded with a failed read-back", o)
	}
	logs := h.logs.String()
	for _, want := range []string{"could not abort", "cannot list the replica key", "version failed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	var sentKeys int
	for _, r := range h.fake.Requests() {
		if r.Header.Get(ssecPrefix+"key") == keyB.B64 || r.Header.Get(copySSECPrefx+"key") == keyA.B64 {
			sentKeys++
		}
	}
	if sentKeys == 0 {
		t.Fatal("no request carried a key: the test checks nothing")
	}

	// A fatal error ends the run with an error; it must be clean too.
	fatal := newHarness(t)
	fatal.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		return s3fake.Error(http.StatusForbidden, "SignatureDoesNotMatch")
	})
	runErr := fatal.runErr(t, planner.KeyWork{Key: "g", Tasks: []planner.Task{ssec(9, "v9", 10, planner.Copy)}})
	if runErr == nil {
		t.Fatal("SignatureDoesNotMatch did not end the run")
	}

	var texts []string
	for _, o := range append(h.store.outcomes, fatal.store.outcomes...) {
		texts = append(texts, o.Message, o.ErrorCode, o.Replica.VersionID, o.Replica.ETag, o.Replica.KMSKeyID)
	}
	texts = append(texts, logs, fatal.logs.String(), runErr.Error())
	for _, r := range append(h.fake.Requests(), fatal.fake.Requests()...) {
		texts = append(texts, r.RawPath, r.RawQuery)
	}
	for _, k := range []s3fake.Key{keyA, keyB} {
		for _, secret := range k.Secrets() {
			for _, text := range texts {
				if strings.Contains(text, secret) {
					t.Errorf("key material of %s found in %q", k.ID, text)
				}
			}
		}
	}
}
