package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestFolderMarkerKeys: keys ending in "/" written before versioning was
// enabled (folder markers, which MinIO never versions) are copied into a
// plain and into a KMS-default versioned destination; the report names
// the replica's null version and the ETag any client sees of it (the one
// mc lists), not MinIO's sealed HEAD answer.
func TestFolderMarkerKeys(t *testing.T) {
	lab, c, w := newSource(t, "fm-src")
	ctx := context.Background()
	// The source is versioned by newSource; folder markers are not
	// versioned by MinIO whatever the bucket says.
	for key, body := range map[string]string{"export/": "", "photos/2024/": "abc"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	plain := lab.Bucket(t, c, "fm-plain", true)
	kms := lab.Bucket(t, c, "fm-kms", true)
	if _, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(kms),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
				SSEAlgorithm: types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String(lab.KMSKeys[1])}}}}}); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{plain, kms} {
		db, report := jobFiles(t)
		if res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--report", report,
			"--endpoint-url", lab.Endpoint); res.code != 0 {
			t.Fatalf("%s", res)
		}
		listed := mcHistories(t, lab, lab.Endpoint, dst)
		_, rows := readReport(t, report)
		if len(rows) != 2 {
			t.Fatalf("%s: %d report rows, want 2", dst, len(rows))
		}
		for _, r := range rows {
			vs := listed[r["Key"]]
			if len(vs) != 1 {
				t.Errorf("%s: %q has %d versions on the destination, want 1", dst, r["Key"], len(vs))
				continue
			}
			if r["TaskStatus"] != "succeeded" || r["DestinationVersionId"] != vs[0].VersionID || r["DestinationVersionId"] != "null" ||
				r["ReplicaETag"] != strings.Trim(vs[0].ETag, `"`) || len(r["ReplicaETag"]) != 32 {
				t.Errorf("%s: %q: %s, replica %q ETag %q; want the null version and the ETag mc lists (%q, %q)", dst, r["Key"],
					r["TaskStatus"], r["DestinationVersionId"], r["ReplicaETag"], vs[0].VersionID, vs[0].ETag)
			}
		}
	}
}
