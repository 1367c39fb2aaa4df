package e2e

import (
	"bytes"
	"context"
	"errors"

	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/planner"
)

const mib = 1 << 20

// putInParts uploads data as a multipart object cut at sizes, and records
// the version in w.
func putInParts(t *testing.T, w *world, key string, data []byte, sizes []int, sse types.ServerSideEncryption) *srcVersion {
	t.Helper()
	ctx := context.Background()
	up, err := w.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(w.bucket), Key: aws.String(key),
		ServerSideEncryption: sse})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	off := 0
	for i, n := range sizes {
		p, err := w.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(w.bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data[off : off+n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag})
		off += n
	}
	if off != len(data) {
		t.Fatalf("part sizes add up to %d, data has %d", off, len(data))
	}
	done, err := w.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	enc := encNone
	if sse == types.ServerSideEncryptionAes256 {
		enc = encS3
	}
	v := &srcVersion{key: key, versionID: aws.ToString(done.VersionId), data: data, enc: enc}
	w.add(v)
	return v
}

func etagOf(t *testing.T, c *s3.Client, bucket, key, versionID string) string {
	t.Helper()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	h, err := c.HeadObject(context.Background(), in)
	if err != nil {
		t.Fatalf("HEAD %s: %v", key, err)
	}
	return aws.ToString(h.ETag)
}

// TestPartLayoutReplay: a multipart source with uneven parts, plaintext and
// SSE-S3, gets a replica with the very same multipart ETag; a single-part
// object above the threshold is cut at --part-size.
func TestPartLayoutReplay(t *testing.T) {
	lab, c, w := newSource(t, "layout-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "layout-dst", true)
	r := mrand.New(mrand.NewPCG(7, 8))
	plain := putInParts(t, w, "uneven/plain", content(r, 19*mib), []int{5 * mib, 7 * mib, 6 * mib, 1 * mib}, "")
	sse := putInParts(t, w, "uneven/sse-s3", content(r, 11*mib+3), []int{6 * mib, 5*mib + 3}, types.ServerSideEncryptionAes256)
	w.put(t, &srcVersion{key: "single/big", data: content(r, 8*mib), enc: encNone}) // one PUT: not multipart
	db, report := jobFiles(t)
	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--report", report,
		"--endpoint-url", lab.Endpoint, "--multipart-threshold", "6MiB", "--part-size", "5MiB")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: v.enc}
	}})
	for _, v := range []*srcVersion{plain, sse} {
		want := etagOf(t, c, src, v.key, v.versionID)
		if got := etagOf(t, c, dst, v.key, ""); got != want || !strings.Contains(got, "-") {
			t.Errorf("%s: replica ETag %s, want the source's multipart ETag %s", v.key, got, want)
		}
	}
	// --part-layout size cuts every multipart copy at --part-size instead.
	dst2 := lab.Bucket(t, c, "layout-dst2", true)
	db2, report2 := jobFiles(t)
	if res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst2, "--db", db2,
		"--report", report2, "--endpoint-url", lab.Endpoint, "--multipart-threshold", "6MiB", "--part-size", "5MiB",
		"--part-layout", "size"); res.code != 0 {
		t.Fatalf("%s", res)
	}
	for _, row := range readDestReport(t, report2).rows {
		if row["Key"] == plain.key && (row["PartLayout"] != "5MiB parts" || row["ETagStatus"] != "differs-expected") {
			t.Errorf("--part-layout size: %s has PartLayout %q, ETagStatus %q; want 5MiB parts, differs-expected",
				plain.key, row["PartLayout"], row["ETagStatus"])
		}
	}

	rows := readDestReport(t, report).rows
	for key, want := range map[string]string{
		plain.key:    "source's 4 parts",
		sse.key:      "source's 2 parts",
		"single/big": "5MiB parts",
	} {
		for _, row := range rows {
			if row["Key"] == key && row["PartLayout"] != want {
				t.Errorf("%s: PartLayout %q, want %q", key, row["PartLayout"], want)
			}
			if row["Key"] == key && key != "single/big" && row["ETagStatus"] != "match" {
				t.Errorf("%s: ETagStatus %q, want match", key, row["ETagStatus"])
			}
		}
	}
}

// TestMultipartResumeAfterKill kills the tool (SIGKILL) in the middle of a
// multipart copy with many parts: the next run completes the same upload
// and copies only the parts not recorded as done.
func TestMultipartResumeAfterKill(t *testing.T) {
	lab, c, w := newSource(t, "mpkill-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "mpkill-dst", true)
	r := mrand.New(mrand.NewPCG(9, 10))
	const parts = 24
	sizes := make([]int, parts)
	for i := range sizes {
		sizes[i] = 5 * mib
	}
	v := putInParts(t, w, "huge/object.bin", content(r, parts*5*mib), sizes, "")
	p := newProxy(t, lab, lab.Endpoint)
	// Part copies take a while, and those after the first third hang, so
	// that the kill lands among them however fast the machine copies.
	p.setFaults(func(req *http.Request, n int) fault {
		switch {
		case requestKind(req) != "UploadPartCopy":
			return pass
		case n <= parts/3:
			return slow
		default:
			return hang
		}
	})
	db := filepath.Join(t.TempDir(), "job.db")
	args := []string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--endpoint-url", p.url(),
		"--ca-bundle", p.caBundle, "--part-workers", "2"}
	cmd, out := start(t, lab, args...)
	deadline := time.Now().Add(3 * time.Minute)
	for p.count("UploadPartCopy") < parts/3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no part copies after 3 minutes:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// A request the tool sent just before the kill can still reach the
	// proxy's handler after it; let those land before drawing the line.
	p.settle(time.Second, 15*time.Second)
	mark := p.total()
	uploads := p.uploadIDs("UploadPartCopy")
	if len(uploads) != 1 {
		t.Fatalf("first run used uploads %v, want one", uploads)
	}
	recorded := recordedParts(t, db)
	if len(recorded) == 0 || len(recorded) >= parts {
		t.Fatalf("%d parts recorded at the kill; the test needs some, not all", len(recorded))
	}

	p.setFaults(nil)
	final := tool(t, lab, nil, "run", "--db", db)
	if final.code != 0 {
		t.Fatalf("rerun: %s", final)
	}
	// Which parts the rerun copied, not how many requests: a part copy
	// the server answered slowly may be retried, which is no second part.
	copied := p.partNumbers("UploadPartCopy", mark)
	for n := int32(1); n <= parts; n++ {
		switch {
		case recorded[n] && copied[n] > 0:
			t.Errorf("part %d was recorded before the kill and copied again", n)
		case !recorded[n] && copied[n] == 0:
			t.Errorf("part %d was not recorded before the kill and the rerun did not copy it", n)
		case copied[n] > 1:
			t.Logf("part %d: %d requests in the rerun (retried)", n, copied[n])
		}
	}
	if done := p.uploadIDs("CompleteMultipartUpload"); len(done) != 1 || done[0] != uploads[0] {
		t.Errorf("completed uploads %v, want the first run's %s", done, uploads[0])
	}
	if p.count("CreateMultipartUpload") != 1 {
		t.Errorf("%d uploads created, want 1", p.count("CreateMultipartUpload"))
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(*srcVersion) expectation {
		return expectation{status: "succeeded", enc: encNone}
	}})
	if got, want := etagOf(t, c, dst, v.key, ""), etagOf(t, c, src, v.key, v.versionID); got != want {
		t.Errorf("replica ETag %s, want %s", got, want)
	}
	if n := recordedUploads(t, db); n != 0 {
		t.Errorf("%d uploads still recorded after completion", n)
	}
}

// recordedParts is the part numbers the checkpoint at path records as
// finished for its one unfinished upload.
func recordedParts(t *testing.T, path string) map[int32]bool {
	t.Helper()
	out := map[int32]bool{}
	withUploads(t, path, func(db *checkpoint.DB, ups []planner.Upload) {
		if len(ups) != 1 {
			t.Fatalf("uploads recorded: %v", ups)
		}
		u, err := db.LoadUpload(context.Background(), ups[0].TaskID)
		if err != nil || u == nil {
			t.Fatalf("load upload: %v", err)
		}
		for _, p := range u.Parts {
			out[p.Number] = true
		}
	})
	return out
}

// recordedUploads is how many unfinished uploads the checkpoint at path
// records.
func recordedUploads(t *testing.T, path string) int {
	t.Helper()
	var n int
	withUploads(t, path, func(_ *checkpoint.DB, ups []planner.Upload) { n = len(ups) })
	return n
}

func withUploads(t *testing.T, path string, f func(*checkpoint.DB, []planner.Upload)) {
	t.Helper()
	db, err := checkpoint.OpenReader(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ups, err := db.Uploads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f(db, ups)
}

// TestInterruptAndCleanup: Ctrl-C (SIGINT) stops a run within seconds,
// keeps the multipart upload in flight for the next run and says how to
// resume; cleanup then aborts that upload and lists an upload the job did
// not start without touching it.
func TestInterruptAndCleanup(t *testing.T) {
	lab, c, w := newSource(t, "intr-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "intr-dst", true)
	r := mrand.New(mrand.NewPCG(15, 16))
	sizes := make([]int, 20)
	for i := range sizes {
		sizes[i] = 5 * mib
	}
	putInParts(t, w, "huge/a.bin", content(r, 20*5*mib), sizes, "")
	foreign, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(dst), Key: aws.String("someone/else.bin")})
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, lab, lab.Endpoint)
	// Three parts go through; the fourth hangs, so the upload is certainly
	// in flight when Ctrl-C comes, however fast the machine copies.
	p.setFaults(func(req *http.Request, n int) fault {
		switch {
		case requestKind(req) != "UploadPartCopy":
			return pass
		case n <= 3:
			return slow
		default:
			return hang
		}
	})
	db := filepath.Join(t.TempDir(), "job.db")
	cmd, out := start(t, lab, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db,
		"--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--part-workers", "1")
	for p.count("UploadPartCopy") < 4 {
		time.Sleep(20 * time.Millisecond)
	}
	sent := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if took := time.Since(sent); took > 15*time.Second {
		t.Errorf("the run took %s to stop after Ctrl-C", took)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), "rerun") {
		t.Errorf("after Ctrl-C: %v\n%s", err, out)
	}
	if n := recordedUploads(t, db); n != 1 {
		t.Fatalf("%d uploads recorded after Ctrl-C, want the one in flight", n)
	}

	res := tool(t, lab, nil, "cleanup", "--db", db, "--endpoint-url", lab.Endpoint)
	if res.code != 0 || !strings.Contains(res.stdout, "aborted: s3://"+dst+"/huge/a.bin") ||
		!strings.Contains(res.stdout, "not touched: s3://"+dst+"/someone/else.bin upload "+aws.ToString(foreign.UploadId)) {
		t.Fatalf("cleanup:\n%s", res)
	}
	left, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(dst)})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Uploads) != 1 || aws.ToString(left.Uploads[0].UploadId) != aws.ToString(foreign.UploadId) {
		t.Errorf("uploads left: %+v, want only the foreign one", left.Uploads)
	}
	if n := recordedUploads(t, db); n != 0 {
		t.Errorf("%d uploads still recorded after cleanup", n)
	}
	// The next run starts the copy over and finishes it.
	if res := tool(t, lab, nil, "run", "--db", db); res.code != 0 {
		t.Fatalf("%s", res)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(*srcVersion) expectation {
		return expectation{status: "succeeded", enc: encNone}
	}})
	c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: aws.String(dst),
		Key: aws.String("someone/else.bin"), UploadId: foreign.UploadId})
}
