package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/inventory/manifesttest"
	"github.com/s3backfill/s3backfill/planner"
)

// inventoryOf is the "All versions" inventory S3 would write of the
// world's bucket: every version and delete marker with its size, time,
// ETag, storage class and encryption. The keys are written in reverse
// order, so that the tool must sort them.
func inventoryOf(t *testing.T, w *world) []manifesttest.Row {
	t.Helper()
	enc := map[string]string{}
	for _, vs := range w.versions {
		for _, v := range vs {
			enc[v.key+"@"+v.versionID] = v.enc
		}
	}
	var rows []manifesttest.Row
	err := inventory.List(context.Background(), w.c, w.bucket, "", func(v planner.Version) error {
		r := manifesttest.Row{Key: v.Key, VersionID: v.VersionID, IsLatest: v.IsLatest, DeleteMarker: v.DeleteMarker,
			Size: v.Size, LastModified: v.LastModified, ETag: strings.Trim(v.ETag, `"`), StorageClass: v.StorageClass}
		if r.VersionID == "null" {
			r.VersionID = ""
		}
		if !v.DeleteMarker {
			r.EncryptionStatus = enc[v.Key+"@"+v.VersionID]
			if r.EncryptionStatus == "" {
				t.Fatalf("%s@%s: the world does not know its encryption", v.Key, v.VersionID)
			}
			if r.EncryptionStatus == encKMS {
				r.BucketKeyStatus = "DISABLED"
			}
			if r.StorageClass == "" {
				r.StorageClass = "STANDARD"
			}
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Reverse the keys, keeping each key's versions in listing order.
	var keys [][]manifesttest.Row
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Key == rows[i].Key {
			j++
		}
		keys = append(keys, rows[i:j])
		i = j
	}
	slices.Reverse(keys)
	return slices.Concat(keys...)
}

// uploadInventory writes an inventory report of rows to bucket inv, as S3
// does, and returns its manifest.json's s3:// location.
func uploadInventory(t *testing.T, c *s3.Client, src, inv, format string, rows []manifesttest.Row) string {
	t.Helper()
	key, err := manifesttest.Write(rows, manifesttest.Options{Format: format, SourceBucket: src, DestBucket: inv,
		Prefix: "inventory/" + src + "/all-" + strings.ToLower(format) + "/", RowsPerFile: 40},
		func(key string, body []byte) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(inv), Key: aws.String(key),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	return "s3://" + inv + "/" + key
}

// sameOutcomeColumns are the report columns a manifest run must fill as
// the listing run does. (The checksum columns differ: an inventory gives
// no checksum to compare with; the messages say where the facts came
// from; the replica versions are other objects.)
var sameOutcomeColumns = []string{"Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "DestinationKey",
	"SourceEncryption", "ReplicaEncryption", "KeyId", "ReplicaKeyId", "Size", "SourceETag", "ETagStatus", "DeleteMarker", "PartLayout"}

// TestManifestMatchesListing: the full world's inventory, written as S3
// writes it in CSV and in Parquet to a bucket, gives through --manifest the
// same replicas and the same report rows as listing the source does, with
// a HEAD fewer for every version whose facts the inventory gave; a rerun
// with the same manifest loads nothing and copies nothing.
func TestManifestMatchesListing(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "man-src", false)
	w := seedFullWorld(t, lab, c, src)
	inv := lab.Bucket(t, c, "man-inv", false)
	keyFile := writeKeyFile(t, w.customerKeys())
	kmsReplica := lab.KMSKeys[3]
	rows := inventoryOf(t, w.world)
	var fromManifest int // versions planned on the inventory's word: all but delete markers and SSE-C copied in parts
	for _, r := range rows {
		if !r.DeleteMarker && (r.EncryptionStatus != encC || r.Size <= 5<<20) {
			fromManifest++
		}
	}
	p := newProxy(t, lab, lab.Endpoint)
	listed := lab.Bucket(t, c, "man-dst-list", true)
	listDB, listReport := jobFiles(t)
	flags := append(w.runFlags(lab, src, keyFile, kmsReplica), "--endpoint-url", p.url(), "--ca-bundle", p.caBundle)
	if res := tool(t, lab, nil, append([]string{"run", "--dest", "s3://" + listed, "--db", listDB, "--report", listReport}, flags...)...); res.code != 3 {
		t.Fatalf("exit %d, want 3 (the versions under a key nobody has fail)\n%s", res.code, res)
	}
	listHeads := p.count("HEAD")
	listPerCopy := requestsPerCopy(t, lab, listDB)
	// status names the folder whose SSE-C versions no key opens.
	if st := tool(t, lab, nil, "status", "--db", listDB); !strings.Contains(st.stdout,
		"folders with SSE-C versions no key opens (add the key, or its prefixes, to the key file):\n  nokey/  2 version(s)\n") {
		t.Errorf("status does not name the folder without a key:\n%s", st.stdout)
	}
	w.checkBackfill(t, c, listed, listReport, kmsReplica)
	want := readDestReport(t, listReport)

	for _, format := range []string{"CSV", "Parquet"} {
		t.Run(format, func(t *testing.T) {
			manifest := uploadInventory(t, c, src, inv, format, rows)
			dst := lab.Bucket(t, c, "man-dst-"+strings.ToLower(format), true)
			db, report := jobFiles(t)
			before := p.count("HEAD")
			res := tool(t, lab, nil, append([]string{"run", "--dest", "s3://" + dst, "--db", db, "--report", report, "--manifest", manifest}, flags...)...)
			if res.code != 3 {
				t.Fatalf("exit %d, want 3\n%s", res.code, res)
			}
			heads := p.count("HEAD") - before
			w.checkBackfill(t, c, dst, report, kmsReplica)
			got := readDestReport(t, report)
			for _, wr := range want.rows {
				gr := got.row(t, wr["Key"], wr["VersionId"], dst)
				if gr == nil {
					continue
				}
				for _, col := range sameOutcomeColumns {
					if col == "KeyId" && wr["SourceEncryption"] == encKMS {
						// An inventory does not name the source's KMS key.
						if gr[col] != "" {
							t.Errorf("%s@%s: KeyId %q, but the manifest names no KMS key", wr["Key"], wr["VersionId"], gr[col])
						}
						continue
					}
					if gr[col] != wr[col] {
						t.Errorf("%s@%s: %s %q from the manifest, %q from the listing", wr["Key"], wr["VersionId"], col, gr[col], wr[col])
					}
				}
				// SSE-C versions too: their keys are tried on the copy, except
				// where the copy goes in parts (the key is then found by HEAD).
				wantFacts := "manifest"
				switch {
				case wr["DeleteMarker"] == "true":
					wantFacts = ""
				case wr["PartLayout"] != "" && wr["SourceEncryption"] == encC:
					wantFacts = "head"
				}
				if gr["SourceFacts"] != wantFacts {
					t.Errorf("%s@%s: SourceFacts %q (listing run: %q), want %q", wr["Key"], wr["VersionId"], gr["SourceFacts"], wr["SourceFacts"], wantFacts)
				}
			}
			t.Logf("HEAD requests: %d listing, %d from the %s manifest (%d versions described by it)", listHeads, heads, format, fromManifest)
			if heads > listHeads-fromManifest {
				t.Errorf("the manifest run made %d HEADs; the listing run %d: want at least %d fewer", heads, listHeads, fromManifest)
			}
			perCopy := requestsPerCopy(t, lab, db)
			t.Logf("S3 requests per copied version: %.2f listing, %.2f from the %s manifest", listPerCopy, perCopy, format)
			if perCopy >= listPerCopy {
				t.Errorf("status: %.2f requests per copied version from the manifest, %.2f listing: want fewer", perCopy, listPerCopy)
			}

			// The same manifest again: nothing loaded, no replica made (the
			// versions no key opens are tried again, and refused again).
			replicas := len(keysUnder(t, c, dst, ""))
			again := tool(t, lab, nil, "run", "--db", db, "--manifest", manifest, "--endpoint-url", p.url(), "--ca-bundle", p.caBundle)
			if again.code != 3 || !strings.Contains(again.stderr, "manifest already loaded") {
				t.Errorf("rerun with the same manifest: exit %d\n%s", again.code, again)
			}
			if n := len(keysUnder(t, c, dst, "")) - replicas; n != 0 {
				t.Errorf("rerun with the same manifest made %d replicas", n)
			}
		})
	}
}

// TestManifestBatchCSV: a Batch Operations CSV manifest (bucket,key,versionId,
// no header, URL-encoded keys) naming some versions of a source, in no
// order, copies exactly those, each key's oldest first; a manifest of
// another bucket is refused and records nothing.
func TestManifestBatchCSV(t *testing.T) {
	lab, c, w := newSource(t, "batch-src")
	dst := lab.Bucket(t, c, "batch-dst", true)
	inv := lab.Bucket(t, c, "batch-inv", false)
	for k := range 6 {
		key := fmt.Sprintf("docs/file %d+x.txt", k)
		for v := range 3 {
			w.put(t, &srcVersion{key: key, data: []byte(fmt.Sprintf("%d-%d", k, v)), enc: []string{encNone, encS3}[v%2]})
		}
	}
	// The manifest names the even keys' first and last versions, newest
	// line first, and the odd keys without a version id (their current one).
	var rows []manifesttest.Row
	chosen := map[string]bool{}
	for k := 5; k >= 0; k-- {
		key := fmt.Sprintf("docs/file %d+x.txt", k)
		vs := w.versions[key]
		if k%2 == 0 {
			for _, v := range []*srcVersion{vs[2], vs[0]} {
				rows = append(rows, manifesttest.Row{Key: key, VersionID: v.versionID})
				chosen[v.versionID] = true
			}
		} else {
			rows = append(rows, manifesttest.Row{Key: key})
			chosen[vs[2].versionID] = true
		}
	}
	var body bytes.Buffer
	for _, r := range rows {
		line := manifesttest.BatchCSV(w.bucket, []manifesttest.Row{r}, r.VersionID != "")
		body.Write(line)
	}
	put := func(key string, b []byte) string {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(inv), Key: aws.String(key),
			Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))}); err != nil {
			t.Fatal(err)
		}
		return "s3://" + inv + "/" + key
	}
	db, report := jobFiles(t)
	common := []string{"--endpoint-url", lab.Endpoint, "--db", db}
	other := put("other.csv", []byte("not-the-source,docs/a,1\n"))
	bad := tool(t, lab, nil, append([]string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--manifest", other}, common...)...)
	if bad.code != 2 || !strings.Contains(bad.stderr, `other.csv line 1: bucket "not-the-source" is not the job's source bucket`) {
		t.Errorf("a manifest of another bucket: %s", bad)
	}
	if keys := keysUnder(t, c, dst, ""); len(keys) != 0 {
		t.Errorf("the refused manifest copied %v", keys)
	}
	res := tool(t, lab, nil, append([]string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--report", report,
		"--manifest", put("batch.csv", body.Bytes())}, common...)...)
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		if chosen[v.versionID] {
			return expectation{status: "succeeded", enc: v.enc}
		}
		return expectation{status: "not-in-manifest"}
	}})
}

// requestsPerCopy is what status says of the last run's S3 requests per
// copied version.
func requestsPerCopy(t *testing.T, lab *labenv.Lab, db string) float64 {
	t.Helper()
	st := tool(t, lab, nil, "status", "--db", db)
	m := regexp.MustCompile(`(\d+) versions copied, ([0-9.]+) S3 requests per copied version`).FindStringSubmatch(st.stdout)
	if st.code != 0 || m == nil {
		t.Fatalf("status shows no requests per copied version: %s", st)
	}
	n, _ := strconv.ParseFloat(m[2], 64)
	return n
}

// TestManifestKilledWhileLoading: a scan killed (SIGKILL) while it records
// a large inventory, then run again, ends with every version recorded
// once, each key's versions in order; the manifest counts as loaded only
// once it was loaded whole.
func TestManifestKilledWhileLoading(t *testing.T) {
	lab := labenv.Get(t)
	const keys, perKey = 30_000, 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]manifesttest.Row, 0, keys*perKey)
	for k := keys - 1; k >= 0; k-- { // keys in reverse: the load must sort
		for v := perKey - 1; v >= 0; v-- {
			rows = append(rows, manifesttest.Row{Key: fmt.Sprintf("k/%06d", k), VersionID: fmt.Sprintf("%06d-%d", k, v),
				IsLatest: v == perKey-1, Size: 1, LastModified: t0.Add(time.Duration(k*perKey+v) * time.Second),
				ETag: fmt.Sprintf("%032x", k*perKey+v), StorageClass: "STANDARD", EncryptionStatus: encNone})
		}
	}
	manifest, err := manifesttest.WriteDir(rows, manifesttest.Options{Format: "CSV", SourceBucket: "kill-src", DestBucket: "inv",
		Prefix: "inv/", RowsPerFile: 50_000}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, _ := jobFiles(t)
	args := []string{"scan", "--manifest", manifest, "--source", "s3://kill-src", "--dest", "s3://kill-dst", "--db", db,
		"--endpoint-url", lab.Endpoint}
	cmd, out := start(t, lab, args...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	killed := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && !killed; {
		select {
		case <-done:
			t.Fatalf("the scan finished before it could be killed:\n%s", out)
		case <-time.After(5 * time.Millisecond):
		}
		if st, err := os.Stat(db + "-wal"); err == nil && st.Size() > 4<<20 { // recording, far from done
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-done
			killed = true
		}
	}
	if !killed {
		t.Fatalf("the scan recorded nothing in 2 minutes:\n%s", out)
	}
	reader, err := checkpoint.OpenReader(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	partial := rowsOf(t, reader)
	reader.Close()
	if len(partial) == 0 || len(partial) >= len(rows) {
		t.Fatalf("killed with %d of %d versions recorded: not in the middle", len(partial), len(rows))
	}
	if again := tool(t, lab, nil, args...); again.code != 0 || strings.Contains(again.stderr, "already loaded") {
		t.Fatalf("the scan after the kill: %s", again)
	}
	reader, err = checkpoint.OpenReader(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	got := rowsOf(t, reader)
	if len(got) != len(rows) {
		t.Fatalf("%d versions recorded after the rerun (%d before it), want %d", len(got), len(partial), len(rows))
	}
	// EachRow gives each key's versions oldest first: v0 … v9, once each.
	for i, r := range got {
		k, v := i/perKey, i%perKey
		if want := fmt.Sprintf("k/%06d@%06d-%d", k, k, v); r != want {
			t.Fatalf("row %d is %s, want %s (%d recorded before the kill)", i, r, want, len(partial))
		}
	}
	t.Logf("killed after %d of %d versions; the rerun recorded the rest in order", len(partial), len(rows))
	if third := tool(t, lab, nil, args...); third.code != 0 || !strings.Contains(third.stderr, "manifest already loaded") {
		t.Errorf("a third scan with the same manifest: %s", third)
	}
}

// rowsOf lists a checkpoint's rows as key@version, in EachRow's order.
func rowsOf(t *testing.T, db *checkpoint.DB) []string {
	t.Helper()
	var out []string
	if err := db.EachRow(context.Background(), "", func(r planner.Row) error {
		out = append(out, r.Key+"@"+r.VersionID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestManifestTwoWorkersOnPostgres: two processes run the same job from an
// inventory on one PostgreSQL database: the inventory is loaded once,
// every version copied once.
func TestManifestTwoWorkersOnPostgres(t *testing.T) {
	lab, c, w := newSource(t, "man-pg-src")
	dst := lab.Bucket(t, c, "man-pg-dst", true)
	inv := lab.Bucket(t, c, "man-pg-inv", false)
	for k := range 60 {
		for v := range 1 + k%3 {
			w.put(t, &srcVersion{key: fmt.Sprintf("d/%02d", k), data: []byte(fmt.Sprintf("%d.%d", k, v)), enc: []string{encNone, encS3}[k%2]})
		}
	}
	manifest := uploadInventory(t, c, w.bucket, inv, "Parquet", inventoryOf(t, w))
	pgURL, job := pgJob(t, lab)
	ws := startWorkers(t, lab, 2, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", pgURL, "--job", job,
		"--manifest", manifest, "--endpoint-url", lab.Endpoint, "--workers", "4")
	waitWorkers(t, ws, nil)
	db := pgOpen(t, pgURL)
	defer db.Close()
	var loads, manifests int
	schema := `"s3backfill_` + job + `"`
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.scans WHERE seen > 0`).Scan(&loads); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.manifests`).Scan(&manifests); err != nil {
		t.Fatal(err)
	}
	if loads != 1 || manifests != 1 {
		t.Errorf("the inventory was loaded by %d scans and recorded %d times, want once", loads, manifests)
	}
	n := sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
	if n != w.total() {
		t.Errorf("%d versions replicated, want %d", n, w.total())
	}
}

// TestManifestProfile: --manifest-profile reads the manifest with that
// profile's credentials, not the source's: a profile whose secret is wrong
// makes the read fail (and copies nothing); a right one reads it.
func TestManifestProfile(t *testing.T) {
	lab, c, w := newSource(t, "man-prof-src")
	dst := lab.Bucket(t, c, "man-prof-dst", true)
	inv := lab.Bucket(t, c, "man-prof-inv", false)
	w.put(t, &srcVersion{key: "only", data: []byte("x"), enc: encS3})
	manifest := uploadInventory(t, c, w.bucket, inv, "CSV", inventoryOf(t, w))
	env := credentialsEnv(t, [3]string{"wrong", lab.AccessKey(), "not-the-secret"}, [3]string{"reader", lab.AccessKey(), lab.Secret()})
	db, _ := jobFiles(t)
	args := []string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--db", db, "--endpoint-url", lab.Endpoint,
		"--manifest", manifest, "--manifest-profile"}
	bad := toolEnv(t, lab, nil, env, append(args, "wrong")...)
	if bad.code == 0 || !strings.Contains(bad.stderr, "manifest.json") {
		t.Errorf("with a profile whose secret is wrong: %s", bad)
	}
	if keys := keysUnder(t, c, dst, ""); len(keys) != 0 {
		t.Errorf("copied %v without reading the manifest", keys)
	}
	if good := toolEnv(t, lab, nil, env, append(args, "reader")...); good.code != 0 {
		t.Fatalf("with the right profile: %s", good)
	}
	sameHistories(t, lab, lab.Endpoint, w.bucket, dst)
}
