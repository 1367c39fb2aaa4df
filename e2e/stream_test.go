package e2e

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestStreamBetweenServers copies between the lab's two MinIO servers,
// which cannot copy server-side between each other: SSE-C versions are
// re-keyed (replica_key) on the way, plaintext ones land under the
// destination's default encryption (SSE-KMS), small and multipart-sized
// objects alike, and every replica reads back byte for byte.
func TestStreamBetweenServers(t *testing.T) {
	lab := labenv.Get(t)
	c1, c2 := lab.Client(), lab.Client2()
	src := lab.Bucket(t, c1, "stream-src", true)
	dst := lab.Bucket(t, c2, "stream-dst", true)
	kms := lab.KMSKeys[2]
	_, err := c2.PutBucketEncryption(context.Background(), &s3.PutBucketEncryptionInput{
		Bucket: aws.String(dst),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
				SSEAlgorithm: types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String(kms)},
		}}},
	})
	if err != nil {
		t.Fatalf("default encryption on the destination: %v", err)
	}
	oldKey := newCustomerKey("old", true, "secret/")
	newKey := newCustomerKey("new", true)
	oldKey.replicaKey = "new"
	w := newWorld(c1, src)
	r := mrand.New(mrand.NewPCG(11, 12))
	for i := range 6 {
		w.put(t, &srcVersion{key: fmt.Sprintf("secret/%d", i), data: content(r, 1000+i), enc: encC, ssec: oldKey,
			meta: map[string]string{"n": fmt.Sprint(i)}, tags: map[string]string{"kind": "secret"}})
		w.put(t, &srcVersion{key: fmt.Sprintf("plain/%d", i), data: content(r, 2000+i), enc: encNone, contentType: "text/csv"})
	}
	w.put(t, &srcVersion{key: "secret/big", data: content(r, 13*mib), enc: encC, ssec: oldKey})
	w.put(t, &srcVersion{key: "plain/big", data: content(r, 11*mib+5), enc: encNone})
	w.put(t, &srcVersion{key: "plain/0", data: content(r, 3000), enc: encNone}) // a second version
	keyFile := writeKeyFile(t, []*customerKey{oldKey, newKey})

	db := filepath.Join(t.TempDir(), "job.db")
	var out outputs
	res := tool(t, lab, &out, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db, "--keys", keyFile,
		"--source-endpoint-url", lab.Endpoint, "--dest-endpoint-url", lab.Endpoint2, "--part-size", "5MiB")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	if !strings.Contains(res.stderr, "streamed") {
		t.Errorf("the run did not say copies are streamed:\n%s", res.stderr)
	}
	checkReplicas(t, w, c2, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		if v.enc == encC {
			return expectation{status: "succeeded", enc: encC, ssec: newKey}
		}
		return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(kms)}
	}})
	checkNoSecrets(t, []*customerKey{oldKey, newKey}, mustGlob(t, db+"*"), out.all.Bytes())
	if v := tool(t, lab, nil, "verify", "--db", db, "--content"); v.code != 0 {
		t.Errorf("verify --content after a streamed copy: %s", v)
	}
}

// TestFaultsAndThrottling puts a proxy in front of the lab that answers
// 503 SlowDown in bursts and 429 now and then, resets connections before
// and after the server did the work (a part copy among them), and answers
// slowly. The run must finish with every version copied, in order and
// correct (twice only where the answer to a copy was lost), and status must
// show the throttling.
func TestFaultsAndThrottling(t *testing.T) {
	lab, c, w := newSource(t, "faults-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "faults-dst", true)
	r := mrand.New(mrand.NewPCG(13, 14))
	for i := range 60 {
		for j := range 1 + i%2 {
			w.put(t, &srcVersion{key: fmt.Sprintf("obj/%02d", i), data: content(r, 500+j), enc: encS3})
		}
	}
	for i := range 2 {
		w.put(t, &srcVersion{key: fmt.Sprintf("big/%d", i), data: content(r, 12*mib), enc: encNone})
	}
	p := newProxy(t, lab, lab.Endpoint)
	p.setFaults(func(req *http.Request, n int) fault {
		switch requestKind(req) {
		case "CopyObject":
			switch {
			case n <= 12 || (n >= 40 && n < 46):
				return slowDown // bursts
			case n%9 == 0:
				return tooMany
			case n == 20:
				return reset
			case n == 25 || n == 30:
				return resetAfter // copied, but the answer is lost: the retry copies again
			case n%7 == 0:
				return slow
			}
		case "UploadPartCopy":
			switch n {
			case 2:
				return reset
			case 3:
				return resetAfter
			case 4, 5:
				return slowDown
			}
		case http.MethodHead:
			if n%11 == 0 {
				return slowDown
			}
		}
		return pass
	})
	db := filepath.Join(t.TempDir(), "job.db")
	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--dest", "s3://"+dst, "--db", db,
		"--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--workers", "4", "--part-size", "5MiB")
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	// Two CopyObject requests, the 25th and the 30th, reach the server
	// and lose their answers (resetAfter): the tool finds their replicas
	// on the destination instead of copying again. The part copy that
	// loses its answer is copied again, still one part of one upload.
	// Every replica is made once.
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: v.enc}
	}})
	st := tool(t, lab, nil, "status", "--db", db)
	if st.code != 0 || !regexpThrottled.MatchString(st.stdout) {
		t.Errorf("status does not show the throttling:\n%s", st)
	}
}

// regexpThrottled finds a non-zero throttled count in status.
var regexpThrottled = regexp.MustCompile(`\d+ S3 requests, [1-9]\d* throttled`)
