package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// lockedBucket creates a bucket with Object Lock (versioned by it).
func lockedBucket(t *testing.T, c *s3.Client, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name),
		ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("create %s with Object Lock: %v", name, err)
	}
	return name
}

// TestObjectLockCarried: a source with Object Lock: retention (GOVERNANCE)
// and a legal hold, on single and multipart copies, are carried to a
// destination with Object Lock, read back by an independent client; to a
// destination without, the run warns once and each locked version's row
// says its lock was not carried.
func TestObjectLockCarried(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	ctx := context.Background()
	src := lockedBucket(t, c, "lock-src")
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	put := func(key string, size int, lock func(*s3.PutObjectInput)) {
		in := &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: bytes.NewReader(bytes.Repeat([]byte("x"), size)),
			ContentLength: aws.Int64(int64(size))}
		if lock != nil {
			lock(in)
		}
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	governance := func(in *s3.PutObjectInput) {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, aws.Time(until)
	}
	put("retained", 10, governance)
	// COMPLIANCE cannot be lifted, even by the owner: a short one, so that
	// the lab can remove it soon.
	soon := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second)
	put("compliance", 13, func(in *s3.PutObjectInput) {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, aws.Time(soon)
	})
	put("held", 11, func(in *s3.PutObjectInput) { in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn })
	put("plain", 12, nil)
	put("big-retained", 9<<20, governance)

	locked := lockedBucket(t, c, "lock-dst")
	db, report := jobFiles(t)
	flags := []string{"--endpoint-url", lab.Endpoint, "--multipart-threshold", "8MiB", "--part-size", "5MiB"}
	res := tool(t, lab, nil, append([]string{"run", "--source", "s3://" + src, "--dest", "s3://" + locked, "--db", db, "--report", report}, flags...)...)
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	head := func(bucket, key string) *s3.HeadObjectOutput {
		t.Helper()
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s/%s: %v", bucket, key, err)
		}
		return h
	}
	for _, key := range []string{"retained", "big-retained"} {
		h := head(locked, key)
		if h.ObjectLockMode != types.ObjectLockModeGovernance || !aws.ToTime(h.ObjectLockRetainUntilDate).Equal(until) {
			t.Errorf("replica %s: retention %s until %v, want GOVERNANCE until %v", key, h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate), until)
		}
	}
	if h := head(locked, "compliance"); h.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(h.ObjectLockRetainUntilDate).Equal(soon) {
		t.Errorf("replica compliance: retention %s until %v, want COMPLIANCE until %v", h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate), soon)
	}
	if h := head(locked, "held"); h.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
		t.Errorf("replica held: legal hold %q, want ON", h.ObjectLockLegalHoldStatus)
	}
	if h := head(locked, "plain"); h.ObjectLockMode != "" || h.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
		t.Errorf("replica plain: locked (%s, %s)", h.ObjectLockMode, h.ObjectLockLegalHoldStatus)
	}
	rep := readDestReport(t, report)
	for _, row := range rep.rows {
		if (row["Key"] == "plain") == strings.Contains(row["ResultMessage"], "Object Lock carried") {
			t.Errorf("%s: %q", row["Key"], row["ResultMessage"])
		}
	}

	// A destination without Object Lock: a warning, and a note per version.
	unlocked := lab.Bucket(t, c, "lock-none", true)
	db2, report2 := jobFiles(t)
	res = tool(t, lab, nil, append([]string{"run", "--source", "s3://" + src, "--dest", "s3://" + unlocked, "--db", db2, "--report", report2}, flags...)...)
	if res.code != 0 || strings.Count(res.stderr, "the source bucket has Object Lock and bucket "+unlocked+" has not") != 1 {
		t.Fatalf("to a bucket without Object Lock: %s", res)
	}
	for _, row := range readDestReport(t, report2).rows {
		want := row["Key"] != "plain"
		if got := strings.Contains(row["ResultMessage"], "Object Lock not carried: bucket "+unlocked+" has no Object Lock"); got != want {
			t.Errorf("%s: %q", row["Key"], row["ResultMessage"])
		}
	}
}

// TestACLOnMinIO: MinIO does not implement object ACLs: --acl copy (and
// owner-override) stop at the checks, saying so, before anything is
// copied; --acl none copies as always.
func TestACLOnMinIO(t *testing.T) {
	lab, c, w := newSource(t, "acl-src")
	dst := lab.Bucket(t, c, "acl-dst", true)
	w.put(t, &srcVersion{key: "a", data: []byte("a"), enc: encNone})
	for _, mode := range []string{"copy", "owner-override"} {
		db, _ := jobFiles(t)
		res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--endpoint-url", lab.Endpoint, "--acl", mode)
		if res.code != 1 || !strings.Contains(res.stderr, "bucket "+dst+": this endpoint does not support ACLs") {
			t.Errorf("--acl %s: %s", mode, res)
		}
		if keys := keysUnder(t, c, dst, ""); len(keys) != 0 {
			t.Errorf("--acl %s copied %v", mode, keys)
		}
	}
	db, _ := jobFiles(t)
	if res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--endpoint-url", lab.Endpoint, "--acl", "none"); res.code != 0 {
		t.Errorf("--acl none: %s", res)
	}
}
