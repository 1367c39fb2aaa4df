package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// fullWorld seeds a source with every case the first issue lists: ≥ 50
// keys with 1–5 versions; plain, SSE-S3, SSE-KMS under two key ids, SSE-C
// under a key found by prefix, a key found by trial (and rotated), and a
// key not in the key file; delete markers; a 'null' version; an empty
// object; multipart-sized objects (one SSE-C); awkward key names; metadata,
// content headers, tags and a storage class.
type fullWorld struct {
	*world
	tax, legacy, decoy, unknown *customerKey
	kms1, kms2                  string
}

func seedFullWorld(t *testing.T, lab *labenv.Lab, c *s3.Client, bucket string) *fullWorld {
	t.Helper()
	w := &fullWorld{world: newWorld(c, bucket)}
	w.tax = newCustomerKey("tax-2024", true, "Tax/")
	w.legacy = newCustomerKey("legacy", true) // found by trial; replicas re-keyed to tax-2024
	w.legacy.replicaKey = "tax-2024"
	w.decoy = newCustomerKey("decoy", true, "legacy/") // matches legacy/ by prefix but opens nothing: tried first, 403
	w.unknown = newCustomerKey("unknown", false)
	w.kms1, w.kms2 = lab.KMSKeys[1], lab.KMSKeys[2]
	r := mrand.New(mrand.NewPCG(1, 2))

	// A 'null' version: written before versioning was enabled.
	w.put(t, &srcVersion{key: "null/object", data: content(r, 100), enc: encNone})
	lab.EnableVersioning(t, c, bucket)
	w.put(t, &srcVersion{key: "null/object", data: content(r, 120), enc: encNone, meta: map[string]string{"after": "versioning"}})

	versions := func() int { return 1 + r.IntN(5) }
	attrs := func(v *srcVersion, i int) *srcVersion {
		if i%2 == 0 {
			v.meta = map[string]string{"owner": fmt.Sprintf("team-%d", i), "note": "x y z"}
			v.contentType = "text/plain; charset=utf-8"
			v.cacheControl = "max-age=60"
		}
		if i%3 == 0 {
			v.tags = map[string]string{"project": "backfill", "n": fmt.Sprint(i)}
			v.disposition = `attachment; filename="f.txt"`
			v.language = "en"
		}
		if i%7 == 0 {
			v.storageClass = "REDUCED_REDUNDANCY"
		}
		return v
	}
	seq := 0
	many := func(prefix string, keys int, mk func(v *srcVersion)) {
		for k := range keys {
			key := fmt.Sprintf("%sobj-%02d.bin", prefix, k)
			for range versions() {
				seq++
				v := attrs(&srcVersion{key: key, data: content(r, r.IntN(3000))}, seq)
				mk(v)
				w.put(t, v)
			}
		}
	}
	many("plain/", 10, func(v *srcVersion) { v.enc = encNone })
	many("sse-s3/", 8, func(v *srcVersion) { v.enc = encS3 })
	many("kms-a/", 5, func(v *srcVersion) { v.enc, v.kmsKey = encKMS, w.kms1 })
	many("kms-b/", 5, func(v *srcVersion) { v.enc, v.kmsKey = encKMS, w.kms2 })
	many("Tax/", 6, func(v *srcVersion) { v.enc, v.ssec = encC, w.tax })
	many("legacy/", 6, func(v *srcVersion) { v.enc, v.ssec = encC, w.legacy })

	// One key, every class, so each version is resolved on its own.
	mixed := "mixed/every-class"
	for i, mk := range []func(v *srcVersion){
		func(v *srcVersion) { v.enc = encNone },
		func(v *srcVersion) { v.enc = encS3 },
		func(v *srcVersion) { v.enc, v.ssec = encC, w.legacy },
		func(v *srcVersion) { v.enc, v.kmsKey = encKMS, w.kms2 },
		func(v *srcVersion) { v.enc, v.ssec = encC, w.tax },
	} {
		v := attrs(&srcVersion{key: mixed, data: content(r, 200+i)}, i)
		mk(v)
		w.put(t, v)
	}

	// SSE-C under a key nobody gave us: that version fails, the others copy.
	w.put(t, &srcVersion{key: "nokey/only", data: content(r, 50), enc: encC, ssec: w.unknown})
	w.put(t, &srcVersion{key: "nokey/between", data: content(r, 51), enc: encNone})
	w.put(t, &srcVersion{key: "nokey/between", data: content(r, 52), enc: encC, ssec: w.unknown})
	w.put(t, &srcVersion{key: "nokey/between", data: content(r, 53), enc: encS3})

	// Delete markers: in the middle of a history and on top of one.
	w.deleted(t, r, "deleted/obj-", 4, encS3)

	// An empty object, plain and SSE-C.
	w.put(t, &srcVersion{key: "empty/plain", data: nil, enc: encNone, meta: map[string]string{"empty": "yes"}})
	w.put(t, &srcVersion{key: "Tax/empty", data: nil, enc: encC, ssec: w.tax})

	// Above the lowered multipart threshold (5 MiB, parts of 5 MiB → 3
	// parts): plain, SSE-C and SSE-KMS; the plain one is itself multipart.
	w.put(t, attrs(&srcVersion{key: "big/plain.bin", data: content(r, 12<<20+123), enc: encNone}, 6))
	w.put(t, attrs(&srcVersion{key: "Tax/big-ssec.bin", data: content(r, 11<<20+7), enc: encC, ssec: w.tax}, 3))
	w.put(t, &srcVersion{key: "big/kms.bin", data: content(r, 6<<20), enc: encKMS, kmsKey: w.kms1})

	// Awkward names.
	for i, key := range []string{
		"names/with space.txt",
		"names/ünïcødé-文件-😀.txt",
		"names/a+b%c?d#e&f=g.txt",
		"names/trailing space ",
		"names/%2F-not-a-slash",
		"names/tab\tand\"quote',comma",
	} {
		for j := range 1 + i%3 {
			w.put(t, attrs(&srcVersion{key: key, data: content(r, 10+j), enc: encNone}, i+j))
		}
	}
	// AWS takes "//" in keys; MinIO refuses such names (XMinioInvalidObjectName).
	// Where the server takes them they are part of the test; the request
	// encoding is asserted on the wire in the executor's tests either way.
	if err := w.tryPut(&srcVersion{key: "names//double//slash", data: content(r, 9), enc: encNone}); err != nil {
		t.Logf("the lab server refuses a key with \"//\" (%v); it is not part of this run", err)
	}
	if n := len(w.keys); n < 50 {
		t.Fatalf("seeded only %d keys", n)
	}
	return w
}

// expect applies the rules of a job with --replicate-kms (replica key
// kmsReplica) and --delete-markers as given.
func (w *fullWorld) expect(replicateKMS bool, kmsReplica string, deleteMarkers bool) func(*srcVersion) expectation {
	return func(v *srcVersion) expectation {
		switch {
		case v.deleteMarker && deleteMarkers:
			return expectation{status: "succeeded"}
		case v.deleteMarker:
			return expectation{status: "skipped", messages: []string{"delete marker replication not enabled"}}
		}
		switch v.enc {
		case encNone, encS3:
			return expectation{status: "succeeded", enc: v.enc}
		case encKMS:
			if !replicateKMS {
				return expectation{status: "skipped", messages: []string{"KMS replication not enabled"}}
			}
			return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(kmsReplica)}
		default: // SSE-C
			switch v.ssec {
			case w.unknown:
				return expectation{status: "failed", code: "SrcSSECKeyNotFound"}
			case w.legacy:
				return expectation{status: "succeeded", enc: encC, ssec: w.tax}
			default:
				return expectation{status: "succeeded", enc: encC, ssec: v.ssec}
			}
		}
	}
}

func TestBackfillEndToEnd(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "e2e-src", false) // versioning is enabled after the 'null' version
	dst := lab.Bucket(t, c, "e2e-dst", true)
	w := seedFullWorld(t, lab, c, src)
	keyFile := writeKeyFile(t, w.customerKeys())
	db, report := jobFiles(t)
	kmsReplica := lab.KMSKeys[3]
	var out outputs

	first := tool(t, lab, &out, append([]string{"run", "--dest", "s3://" + dst, "--db", db, "--report", report},
		w.runFlags(lab, src, keyFile, kmsReplica)...)...)
	if first.code != 3 {
		t.Fatalf("first run: exit %d, want 3 (the unknown-key versions fail)\n%s", first.code, first)
	}
	expect := w.checkBackfill(t, c, dst, report, kmsReplica)

	// A second run copies nothing: the destination is unchanged.
	before := listVersions(t, c, dst)
	second := tool(t, lab, &out, "run", "--db", db, "--log-level", "debug", "--log-format", "json")
	if second.code != 3 {
		t.Fatalf("second run: exit %d, want 3 (the unknown-key versions still fail)\n%s", second.code, second)
	}
	// In JSON, every log line is an object (the exit message stays a
	// plain last line); the secrets check below reads them too.
	for _, line := range strings.Split(strings.TrimSpace(second.stderr), "\n") {
		if strings.HasPrefix(line, "s3backfill: ") {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["msg"] == nil {
			t.Errorf("--log-format json: not an event: %q", line)
		}
	}
	if after := listVersions(t, c, dst); !sameVersions(before, after) {
		t.Errorf("the second run changed the destination:\nbefore %v\nafter  %v", before, after)
	}
	// Its report says the same as the first's.
	rep := readDestReport(t, report)
	rep.checkShape(t, w.total())
	checkReplicas(t, w.world, c, replicaCheck{dest: dst, expect: expect, report: rep})

	status := tool(t, lab, &out, "status", "--db", db)
	if status.code != 0 || !strings.Contains(status.stdout, "succeeded") || !strings.Contains(status.stdout, "SSE-C") {
		t.Errorf("status:\n%s", status)
	}
	failed := tool(t, lab, &out, "report", "--db", db, "--failed-only")
	if got := strings.Count(failed.stdout, "\n") - 1; failed.code != 0 || got != 2 {
		t.Errorf("report --failed-only: %d rows, want the 2 unknown-key versions\n%s", got, failed)
	}

	// No key material anywhere: database, report, output.
	files := []string{report}
	matches, _ := filepath.Glob(db + "*")
	files = append(files, matches...)
	checkNoSecrets(t, w.customerKeys(), files, out.all.Bytes())
}

// runFlags are the flags of the full world's backfill, but for its
// destination and checkpoint: every encryption replicated, KMS replicas
// under kmsReplica, delete markers, multipart copies.
func (w *fullWorld) runFlags(lab *labenv.Lab, src, keyFile, kmsReplica string) []string {
	return []string{"--source", "s3://" + src, "--keys", keyFile, "--endpoint-url", lab.Endpoint,
		"--replicate-kms", "--replica-kms-key-id", kmsReplica, "--delete-markers",
		"--multipart-threshold", "5MiB", "--part-size", "5MiB", "--workers", "8", "--log-level", "debug"}
}

// checkBackfill checks the replicas in dst and the report of a run with
// runFlags; it returns what was expected of each version.
func (w *fullWorld) checkBackfill(t *testing.T, c *s3.Client, dst, report, kmsReplica string) func(*srcVersion) expectation {
	t.Helper()
	expect := w.expect(true, kmsReplica, true)
	rep := readDestReport(t, report)
	rep.checkShape(t, w.total())
	checkReplicas(t, w.world, c, replicaCheck{dest: dst, expect: expect, report: rep})
	checkMultipartReplicas(t, c, dst, w, "big/plain.bin", "big/kms.bin", "Tax/big-ssec.bin")
	return expect
}

// customerKeys are the SSE-C keys of the full world, the one not in the
// key file included.
func (w *fullWorld) customerKeys() []*customerKey {
	return []*customerKey{w.tax, w.legacy, w.decoy, w.unknown}
}

// checkMultipartReplicas checks that the replicas of the full world's
// objects above the threshold (keys) were copied in parts. Their replicas
// keep the source's SSE-C key, if any.
func checkMultipartReplicas(t *testing.T, c *s3.Client, dst string, w *fullWorld, keys ...string) {
	t.Helper()
	for _, key := range keys {
		in := &s3.HeadObjectInput{Bucket: aws.String(dst), Key: aws.String(key), PartNumber: aws.Int32(1)}
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = w.versions[key][0].ssec.sseC()
		h, err := c.HeadObject(context.Background(), in)
		if err != nil {
			t.Errorf("HEAD part 1 of %s/%s: %v", dst, key, err)
			continue
		}
		if n := aws.ToInt32(h.PartsCount); n < 2 {
			t.Errorf("%s/%s: replica has %d parts, want a multipart copy (≥ 2 parts)", dst, key, n)
		}
	}
}

func sameVersions(a, b map[string][]destVersion) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if !slices.Equal(va, b[k]) {
			return false
		}
	}
	return true
}

// checkNoSecrets searches files (the checkpoint, the report) and output
// (stdout and stderr, at debug level where the test runs it so) for each
// key's material, in every encoding, and its MD5.
func checkNoSecrets(t *testing.T, keys []*customerKey, files []string, output []byte) {
	t.Helper()
	haystacks := map[string][]byte{"process output": output}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		haystacks[f] = b
	}
	if len(files) < 2 {
		t.Fatalf("expected the database and the report among %v", files)
	}
	for _, k := range keys {
		// The key as any request header, log or careless print could show
		// it: base64 (padded or not, standard or URL-safe), hex, and its MD5.
		needles := []string{k.b64(), strings.TrimRight(k.b64(), "="), base64.URLEncoding.EncodeToString(k.raw),
			base64.RawURLEncoding.EncodeToString(k.raw), hex.EncodeToString(k.raw), strings.ToUpper(hex.EncodeToString(k.raw)),
			k.md5(), strings.TrimRight(k.md5(), "=")}
		for name, hay := range haystacks {
			for _, n := range needles {
				if bytes.Contains(hay, []byte(n)) {
					t.Errorf("key %s's material appears in %s", k.id, name)
				}
			}
			if bytes.Contains(hay, k.raw) {
				t.Errorf("key %s's raw bytes appear in %s", k.id, name)
			}
		}
	}
}
