package executor

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// ops is the operations the fake received, in order, as one string.
func ops(f *s3fake.Server) string {
	var out []string
	for _, r := range f.Requests() {
		out = append(out, r.Op)
	}
	return strings.Join(out, " ")
}

// loseAnswers makes the server act on the first n requests of op and then
// drop their answers, as a network that lost them would.
func loseAnswers(h *harness, op string, n int32) {
	var seen atomic.Int32
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op != op || seen.Add(1) > n {
			return nil
		}
		h.fake.Answer(r)        // done...
		return s3fake.Dropped() // ...but the answer never arrives
	})
}

// TestLostAnswerAdoptsTheReplica: each write that makes a replica version
// is sent once. When its answer is lost after the server acted, the SDK's
// retryer does not send it again (the clients here retry as the SDK does);
// the executor lists the replica key, finds the version made since, and
// records it: one replica, one request of each write.
func TestLostAnswerAdoptsTheReplica(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		stream   bool
		task     planner.Task
		size     int64
	}{
		{name: "CopyObject", op: "CopyObject", size: 100,
			task: planner.Task{Version: planner.Version{VersionID: "v1", Size: 100}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}},
		{name: "CompleteMultipartUpload", op: "CompleteMultipartUpload", size: 11 * mib,
			task: planner.Task{Version: planner.Version{VersionID: "v1", Size: 11 * mib}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}}},
		{name: "streamed PutObject", op: "PutObject", stream: true, size: 100,
			task: planner.Task{Version: planner.Version{VersionID: "v1", Size: 100}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}},
		{name: "delete marker", op: "DeleteObject",
			task: planner.Task{Version: planner.Version{VersionID: "dm1", DeleteMarker: true}, Decision: planner.Decision{Action: planner.ReplayDelete}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.retries = 5
			h.cfg.Stream = tc.stream
			if !tc.task.DeleteMarker {
				h.source("k", "v1", tc.size, nil)
				tc.task.ETag = h.fake.Versions(srcBucket, "k")[0].ETag
			} else {
				h.fake.Put(dstBucket, "k", s3fake.Object{Size: 3}) // a marker needs a version to cover on MinIO and S3 alike
			}
			before := len(h.fake.Versions(dstBucket, "k"))
			loseAnswers(h, tc.op, 1)
			tc.task.ID = 1
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{tc.task}})
			o := h.store.outcome(t, 1)
			if o.Status != planner.StatusSucceeded || !strings.Contains(o.Message, "answer was lost") {
				t.Fatalf("outcome = %+v, want succeeded, the replica found after the answer was lost", o)
			}
			if n := len(h.fake.Ops(tc.op)); n != 1 {
				t.Errorf("%d %s requests, want 1 (never sent again once it may have been done): %s", n, tc.op, ops(h.fake))
			}
			if n := len(h.fake.Ops("ListObjectVersions")); n != 1 {
				t.Errorf("%d listings of the replica key, want 1: %s", n, ops(h.fake))
			}
			vs := h.fake.Versions(dstBucket, "k")
			if len(vs) != before+1 {
				t.Fatalf("destination has %d versions, want %d (one replica)", len(vs), before+1)
			}
			if o.Replica.VersionID != vs[0].VersionID {
				t.Errorf("recorded replica %q, the destination's newest is %q", o.Replica.VersionID, vs[0].VersionID)
			}
		})
	}
}

// TestLostAnswerNotDoneIsSentAgain: when the answer was lost and the
// server had not acted (nothing new on the destination), the write is sent
// again, once more, after the listing that found nothing.
func TestLostAnswerNotDoneIsSentAgain(t *testing.T) {
	h := newHarness(t)
	h.retries = 5
	h.source("k", "v1", 100, nil)
	var seen atomic.Int32
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" && seen.Add(1) == 1 {
			return s3fake.Dropped() // lost before the server acted
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100,
		ETag: h.fake.Versions(srcBucket, "k")[0].ETag}, Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded || strings.Contains(o.Message, "answer was lost") {
		t.Errorf("outcome = %+v, want succeeded by the second CopyObject", o)
	}
	if got, want := ops(h.fake), "CopyObject ListObjectVersions CopyObject HeadObject"; got != want {
		t.Errorf("requests %q, want %q", got, want)
	}
	if n := len(h.fake.Versions(dstBucket, "k")); n != 1 {
		t.Errorf("%d replica versions, want 1", n)
	}
}

// TestThrottledWriteRetriedBySDK: a write S3 refused before acting (503
// SlowDown) is retried by the SDK, with no listing.
func TestThrottledWriteRetriedBySDK(t *testing.T) {
	h := newHarness(t)
	h.retries = 5
	h.source("k", "v1", 100, nil)
	var seen atomic.Int32
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" && seen.Add(1) <= 2 {
			return s3fake.Error(http.StatusServiceUnavailable, "SlowDown")
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100},
		Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
		t.Errorf("outcome = %+v, want succeeded", o)
	}
	if got, want := ops(h.fake), "CopyObject CopyObject CopyObject HeadObject"; got != want {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// TestLostAnswerUnverifiableStaysInDoubt: when the answer was lost and the
// replica key cannot be listed, the task is neither succeeded nor failed:
// it stays in doubt (copying) for the next run to reconcile, and the write
// is not sent again.
func TestLostAnswerUnverifiableStaysInDoubt(t *testing.T) {
	h := newHarness(t)
	h.source("k", "v1", 100, nil)
	h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
		switch r.Op {
		case "CopyObject":
			h.fake.Answer(r)
			return s3fake.Dropped()
		case "ListObjectVersions":
			return s3fake.Error(http.StatusForbidden, "AccessDenied")
		}
		return nil
	})
	h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: 100},
		Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Copy}}}})
	o := h.store.outcome(t, 1)
	if o.Status != planner.StatusCopying || !strings.Contains(o.Message, "could not be checked") {
		t.Errorf("outcome = %+v, want still in doubt", o)
	}
	if n := len(h.fake.Ops("CopyObject")); n != 1 {
		t.Errorf("%d CopyObject, want 1", n)
	}
}

// multipartTask is a 11 MiB plaintext version planned as a multipart copy.
func multipartTask(h *harness) planner.Task {
	h.source("big", "v1", 11*mib, nil)
	return planner.Task{ID: 1, Version: planner.Version{VersionID: "v1", Size: 11 * mib, ETag: h.fake.Versions(srcBucket, "big")[0].ETag},
		Inspection: planner.Inspection{Encryption: planner.NotSSE}, Decision: planner.Decision{Action: planner.Multipart}}
}

// TestUploadIntentAfterACrash: a run killed between CreateMultipartUpload
// and the recording of its id leaves only the intent; the next run lists
// the exact key's uploads, aborts the one made since the intent, and
// copies: no upload is left that the checkpoint never knew.
func TestUploadIntentAfterACrash(t *testing.T) {
	h := newHarness(t)
	task := multipartTask(h)
	// The killed run: the intent recorded, then the upload made.
	h.store.uploads = map[int64]*planner.Upload{1: {TaskID: 1, Bucket: dstBucket, Key: "big", Started: time.Now().Add(-time.Second)}}
	orphan, err := h.fake.Client(dstClient).CreateMultipartUpload(context.Background(),
		&s3.CreateMultipartUploadInput{Bucket: aws.String(dstBucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	task.Status, task.ClaimedAt = planner.StatusCopying, time.Now().Add(-time.Second)
	h.run(t, planner.KeyWork{Key: "big", Tasks: []planner.Task{task}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
		t.Fatalf("outcome = %+v, want succeeded", o)
	}
	aborts := h.fake.Ops("AbortMultipartUpload")
	if len(aborts) != 1 || aborts[0].Query.Get("uploadId") != aws.ToString(orphan.UploadId) {
		t.Errorf("aborts = %v, want the orphan %s", s3fake.Describe(aborts), aws.ToString(orphan.UploadId))
	}
	if ls := h.fake.Ops("ListMultipartUploads"); len(ls) != 1 || ls[0].Query.Get("prefix") != "big" {
		t.Errorf("listings = %v, want one for the exact key", s3fake.Describe(ls))
	}
	if ups := h.fake.Uploads(dstBucket); len(ups) != 0 {
		t.Errorf("uploads left on the destination: %+v", ups)
	}
	if len(h.store.uploads) != 0 {
		t.Errorf("uploads left in the store: %+v", h.store.uploads)
	}
	h.replica(t, "big")
}

// TestCreateUploadAnswerLost: CreateMultipartUpload is not re-sent when
// its answer is lost (each attempt would make another upload); the
// version fails for this run, the intent stays, and the next run aborts
// the upload the server made before copying.
func TestCreateUploadAnswerLost(t *testing.T) {
	h := newHarness(t)
	h.retries = 5
	task := multipartTask(h)
	loseAnswers(h, "CreateMultipartUpload", 1)
	h.run(t, planner.KeyWork{Key: "big", Tasks: []planner.Task{task}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusFailed {
		t.Fatalf("first run outcome = %+v, want failed", o)
	}
	if n := len(h.fake.Ops("CreateMultipartUpload")); n != 1 {
		t.Errorf("%d CreateMultipartUpload, want 1", n)
	}
	if u := h.store.uploads[1]; u == nil || u.UploadID != "" {
		t.Fatalf("store upload = %+v, want the intent", u)
	}
	if ups := h.fake.Uploads(dstBucket); len(ups) != 1 {
		t.Fatalf("%d uploads on the destination, want the one whose answer was lost", len(ups))
	}
	h.store.outcomes = nil
	h.run(t, planner.KeyWork{Key: "big", Tasks: []planner.Task{task}})
	if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
		t.Fatalf("second run outcome = %+v, want succeeded", o)
	}
	if ups := h.fake.Uploads(dstBucket); len(ups) != 0 {
		t.Errorf("uploads left on the destination: %+v", ups)
	}
	h.replica(t, "big")
}
