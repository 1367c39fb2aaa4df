package job_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/job"
	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// startUpload starts a multipart upload on the destination, as the job
// would or as someone else does, and returns its id.
func startUpload(t *testing.T, f *s3fake.Server, key string) string {
	t.Helper()
	out, err := f.Client("someone").CreateMultipartUpload(context.Background(),
		&s3.CreateMultipartUploadInput{Bucket: aws.String(dstBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UploadId)
}

// TestCleanup: the uploads the job recorded (present, already gone, or
// made for a recorded intent) are aborted and forgotten; an upload under
// the destination the job did not start is listed and left alone, and one
// outside the destination is not even listed.
func TestCleanup(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	for _, key := range []string{"data/big1.bin", "data/big2.bin", "data/big3.bin"} {
		f.Put(srcBucket, key, s3fake.Object{VersionID: "v1", Size: 9 * mib})
	}
	e := openEnv(t, f, testSpec(f, "data", "backup"), options{})
	e.scanPlan(t)
	ids := map[string]int64{}
	for _, r := range e.rows(t) {
		if r.Action != planner.Multipart {
			t.Fatalf("%s planned %s, want multipart", r.Key, r.Action)
		}
		ids[r.DestKey] = r.ID
	}

	ours := startUpload(t, f, "backup/big1.bin")
	save := func(key, uploadID string) {
		t.Helper()
		if err := e.db.SaveUpload(ctx, planner.Upload{TaskID: ids[key], UploadID: uploadID, Bucket: dstBucket, Key: key,
			PartSizes: []int64{5 * mib, 4 * mib}}); err != nil {
			t.Fatalf("SaveUpload(%s): %v", key, err)
		}
	}
	save("backup/big1.bin", ours)
	save("backup/big2.bin", "") // the intent, recorded before the upload is started
	intended := startUpload(t, f, "backup/big2.bin")
	save("backup/big3.bin", "upload-already-gone")
	theirs := startUpload(t, f, "backup/someone-else.bin")
	outside := startUpload(t, f, "elsewhere/x.bin")

	var heard []job.PendingUpload
	aborted, others, err := e.job.Cleanup(ctx, func(u job.PendingUpload) { heard = append(heard, u) })
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if aborted != 3 || others != 1 {
		t.Errorf("Cleanup = %d aborted, %d others; want 3 and 1", aborted, others)
	}
	var gotOurs, gotOthers []string
	for _, u := range heard {
		if u.Bucket != dstBucket {
			t.Errorf("upload %s reported in bucket %q", u.UploadID, u.Bucket)
		}
		if u.Ours {
			gotOurs = append(gotOurs, u.Key+" "+u.UploadID)
			continue
		}
		gotOthers = append(gotOthers, u.Key+" "+u.UploadID)
		if u.Initiated.IsZero() {
			t.Errorf("other upload %s reported without its start time", u.UploadID)
		}
	}
	slices.Sort(gotOurs)
	wantOurs := []string{"backup/big1.bin " + ours, "backup/big2.bin " + intended, "backup/big3.bin upload-already-gone"}
	if !slices.Equal(gotOurs, wantOurs) {
		t.Errorf("reported as ours %q\nwant %q", gotOurs, wantOurs)
	}
	if want := []string{"backup/someone-else.bin " + theirs}; !slices.Equal(gotOthers, want) {
		t.Errorf("reported as others %q\nwant %q", gotOthers, want)
	}

	var left []string
	for _, u := range f.Uploads(dstBucket) {
		left = append(left, u.UploadID)
	}
	slices.Sort(left)
	want := []string{theirs, outside}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("uploads left on the destination %q, want only the two that are not the job's %q", left, want)
	}
	var abortedIDs []string
	for _, r := range f.Ops("AbortMultipartUpload") {
		abortedIDs = append(abortedIDs, r.Query.Get("uploadId"))
		if r.Client != dstClient {
			t.Errorf("abort sent by %s, want the destination client", r.Client)
		}
	}
	slices.Sort(abortedIDs)
	wantAborted := []string{ours, intended, "upload-already-gone"}
	slices.Sort(wantAborted)
	if !slices.Equal(abortedIDs, wantAborted) {
		t.Errorf("AbortMultipartUpload of %q, want %q", abortedIDs, wantAborted)
	}
	if u, err := e.db.Uploads(ctx); err != nil || len(u) != 0 {
		t.Errorf("the checkpoint still records uploads %+v, %v", u, err)
	}

	// A second cleanup finds only the other upload.
	aborted, others, err = e.job.Cleanup(ctx, func(job.PendingUpload) {})
	if err != nil || aborted != 0 || others != 1 {
		t.Errorf("second Cleanup = %d aborted, %d others, %v; want 0, 1", aborted, others, err)
	}
}
