package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestCoreMatrix runs the core scenario against each of the lab's servers
// (MinIO and Ceph RGW): a versioned source with a 'null' version, every
// encryption the server has (plain, SSE-S3, SSE-KMS, SSE-C under a key that
// is rotated and one that is kept, behind a key that opens nothing),
// metadata and tags, delete markers in
// the middle and on top of histories, and versions copied in parts (plain,
// SSE-KMS, SSE-C re-keyed). The first run is killed (SIGKILL) once it has
// copied a few versions, the next resumes it; then every version is on the
// destination once, in order, with the source's bytes, metadata, tags and
// the encryption the rules give it, the report says so row by row, and a
// third run changes nothing.
//
// Where a server lacks a feature the test asserts what s3backfill does
// instead: RGW stores SSE-S3 writes unencrypted (the source's versions are
// then plain, and the report says NOT-SSE); RGW does not copy SSE-C and
// SSE-KMS sources with CopyObject (they are copied in parts with
// UploadPartCopy), nor re-key SSE-C parts (those are streamed); the report
// says why.
func TestCoreMatrix(t *testing.T) {
	lab := labenv.Get(t)
	for _, srv := range lab.Servers() {
		t.Run(srv.Name, func(t *testing.T) { coreScenario(t, lab, srv) })
	}
}

func coreScenario(t *testing.T, lab *labenv.Lab, srv labenv.Server) {
	c := srv.Client()
	src := lab.Bucket(t, c, "core-src", false) // versioning after the 'null' version
	dst := lab.Bucket(t, c, "core-dst", true)
	w := newWorld(c, src)
	r := mrand.New(mrand.NewPCG(31, 32))
	oldKey, newKey, kept := newCustomerKey("old", true, "rotated/"), newCustomerKey("new", true), newCustomerKey("kept", true, "kept/")
	oldKey.replicaKey = "new"
	// A key named for kept/ that opens none of its versions: tried first,
	// it is refused as the server refuses a wrong key (AWS and MinIO 403,
	// RGW 400), and the next key is tried.
	decoy := newCustomerKey("decoy", true, "kept/")
	kmsSource, kmsReplica := srv.KMSKeys[1], srv.KMSKeys[2]

	w.put(t, &srcVersion{key: "null/object", data: content(r, 90), enc: encNone})
	lab.EnableVersioning(t, c, src)
	seq := 0
	many := func(prefix string, keys int, mk func(v *srcVersion)) {
		for k := range keys {
			for range 1 + k%3 {
				seq++
				v := &srcVersion{key: fmt.Sprintf("%s%02d", prefix, k), data: content(r, 100+r.IntN(2000))}
				if seq%2 == 0 {
					v.meta, v.contentType = map[string]string{"n": fmt.Sprint(seq)}, "text/plain"
				}
				if seq%3 == 0 {
					v.tags = map[string]string{"project": "backfill"}
				}
				mk(v)
				w.put(t, v)
			}
		}
	}
	many("null/object", 1, func(v *srcVersion) { v.enc = encNone })
	many("plain/", 4, func(v *srcVersion) { v.enc = encNone })
	many("sse-s3/", 3, func(v *srcVersion) { v.enc = encS3 })
	many("kms/", 3, func(v *srcVersion) { v.enc, v.kmsKey = encKMS, kmsSource })
	many("rotated/", 3, func(v *srcVersion) { v.enc, v.ssec = encC, oldKey })
	many("kept/", 2, func(v *srcVersion) { v.enc, v.ssec = encC, kept })
	w.deleted(t, r, "deleted/", 3, encNone)
	bigs := []string{"big/plain", "big/kms", "rotated/big"}
	w.put(t, &srcVersion{key: bigs[0], data: content(r, 12<<20+1), enc: encNone})
	w.put(t, &srcVersion{key: bigs[1], data: content(r, 12<<20+3), enc: encKMS, kmsKey: kmsSource})
	w.put(t, &srcVersion{key: bigs[2], data: content(r, 12<<20+5), enc: encC, ssec: oldKey})

	// What the server made of the SSE-S3 writes: the versions as
	// s3backfill will see them.
	for _, key := range w.keys {
		for _, v := range w.versions[key] {
			if v.enc != encS3 {
				continue
			}
			h := headVersion(t, c, src, key, v.versionID, nil)
			if applied := h != nil && h.ServerSideEncryption != ""; applied != srv.AppliesSSES3 {
				t.Fatalf("%s stored an SSE-S3 write with encryption %q; the lab says it applies SSE-S3: %v", srv.Name,
					h.ServerSideEncryption, srv.AppliesSSES3)
			}
			if !srv.AppliesSSES3 {
				v.enc = encNone
			}
		}
	}

	expect := func(v *srcVersion) expectation {
		e := expectation{status: "succeeded", enc: v.enc}
		switch {
		case v.deleteMarker:
			return expectation{status: "succeeded"}
		case v.enc == encKMS:
			e.kms = srv.KMSName(kmsReplica)
		case v.enc == encC:
			e.ssec = v.ssec
			if v.ssec == oldKey {
				e.ssec = newKey
			}
		}
		// What the report says of how: one of these (or that the killed
		// run made the replica).
		e.adoptable = true
		switch {
		case v.key == "big/plain" || v.key == "big/kms" || (srv.CopiesEncrypted && v.key == "rotated/big"):
			// RGW copies parts of an SSE-KMS source, not whole ones.
			e.messages = []string{"copied by UploadPartCopy (3 parts)"}
		case !srv.CopiesEncrypted && strings.HasPrefix(v.key, "rotated/"):
			// Re-keyed: CopyObject is lacking, and so are re-keyed parts.
			e.messages = []string{"streamed: this endpoint does not re-key SSE-C sources in server-side copies of parts"}
		case !srv.CopiesEncrypted && (v.enc == encKMS || v.enc == encC):
			// CopyObject is lacking; UploadPartCopy is not.
			e.messages = []string{"copied by UploadPartCopy (1 parts); in parts: this endpoint does not implement CopyObject of " + v.enc + " sources"}
		default:
			e.messages = []string{"copied by CopyObject"}
		}
		return e
	}

	keyFile := writeKeyFile(t, []*customerKey{decoy, oldKey, newKey, kept})
	db, report := jobFiles(t)
	args := []string{"run", "--source", "s3://" + src, "--dest", "s3://" + dst, "--db", db, "--report", report, "--keys", keyFile,
		"--endpoint-url", srv.Endpoint, "--replicate-kms", "--replica-kms-key-id", kmsReplica, "--delete-markers",
		"--multipart-threshold", "8MiB", "--part-size", "5MiB", "--workers", "2"}
	killed, out := startEnv(t, lab, srv.Env, append(args, "--max-requests-per-second", "8")...)
	copied := 0
	for deadline := time.Now().Add(2 * time.Minute); copied < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			killed.Process.Kill()
			killed.Wait()
			t.Fatalf("the first run copied %d versions in 2 minutes:\n%s", copied, out)
		}
		copied = 0
		for _, vs := range listVersions(t, c, dst) {
			copied += len(vs)
		}
	}
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	t.Logf("killed the first run after %d of %d versions", copied, w.total())
	if res := toolEnv(t, lab, nil, srv.Env, "run", "--db", db, "--max-requests-per-second", "0"); res.code != 0 {
		t.Fatalf("the run after the kill: %s\n(the killed run said:\n%s)", res, out)
	}
	rep := readDestReport(t, report)
	rep.checkShape(t, w.total())
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: expect, report: rep})
	replicas := listVersions(t, c, dst)
	for _, key := range bigs {
		if len(replicas[key]) != 1 {
			continue // checkReplicas said so
		}
		if h := headVersion(t, c, dst, key, replicas[key][0].versionID, expect(w.versions[key][0]).ssec); h != nil &&
			!strings.HasSuffix(aws.ToString(h.ETag), `-3"`) {
			t.Errorf("%s: replica ETag %s, want a copy in 3 parts", key, aws.ToString(h.ETag))
		}
	}

	if again := toolEnv(t, lab, nil, srv.Env, "run", "--db", db); again.code != 0 {
		t.Fatalf("third run: %s", again)
	}
	if after := listVersions(t, c, dst); !sameVersions(replicas, after) {
		t.Errorf("the third run changed the destination:\nbefore %v\nafter  %v", replicas, after)
	}
}
