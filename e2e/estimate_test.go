package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// operation names a request the proxy saw by S3 operation, as the SDK
// names it.
func operation(s seenRequest) string {
	q, _ := url.ParseQuery(s.query)
	path := strings.TrimPrefix(s.path, "/")
	object := strings.Contains(path, "/") && !strings.HasSuffix(path, "/") || strings.Count(path, "/") > 1
	switch s.method {
	case "HEAD":
		if object {
			return "HeadObject"
		}
		return "HeadBucket"
	case "GET":
		switch {
		case q.Has("versions"):
			return "ListObjectVersions"
		case q.Has("versioning"):
			return "GetBucketVersioning"
		case q.Has("encryption"):
			return "GetBucketEncryption"
		case q.Has("replication"):
			return "GetBucketReplication"
		case q.Has("tagging"):
			return "GetObjectTagging"
		case q.Has("uploadId"):
			return "ListParts"
		case q.Has("uploads"):
			return "ListMultipartUploads"
		case object:
			return "GetObject"
		}
		return "ListObjects"
	case "PUT":
		switch {
		case q.Has("partNumber") && s.copySource != "":
			return "UploadPartCopy"
		case q.Has("partNumber"):
			return "UploadPart"
		case s.copySource != "":
			return "CopyObject"
		case q.Has("tagging"):
			return "PutObjectTagging"
		}
		return "PutObject"
	case "POST":
		if q.Has("uploads") {
			return "CreateMultipartUpload"
		}
		if q.Has("uploadId") {
			return "CompleteMultipartUpload"
		}
		return "POST"
	case "DELETE":
		if q.Has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return s.method
}

// opsSince counts the requests the proxy saw from the n-th on, by
// operation.
func (p *proxy) opsSince(n int) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int64{}
	for _, s := range p.seen[n:] {
		out[operation(s)]++
	}
	return out
}

// estimateRow is one line of a dry run's estimate table.
var estimateRow = regexp.MustCompile(`(?m)^  ([A-Za-z]+)\s+([0-9,]+)(?:–([0-9,]+))?\s+\$`)

// estimated reads a dry run's estimate: operation → [min, max].
func estimated(t *testing.T, out string) map[string][2]int64 {
	t.Helper()
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		if err != nil {
			t.Fatalf("estimate count %q: %v", s, err)
		}
		return n
	}
	got := map[string][2]int64{}
	for _, m := range estimateRow.FindAllStringSubmatch(out, -1) {
		if m[1] == "request" || m[1] == "total" {
			continue
		}
		lo := num(m[2])
		hi := lo
		if m[3] != "" {
			hi = num(m[3])
		}
		got[m[1]] = [2]int64{lo, hi}
	}
	if len(got) == 0 {
		t.Fatalf("no estimate in the dry run's output:\n%s", out)
	}
	return got
}

// copyPhaseOps are the operations the copy phase makes; the checks before
// it (buckets, versioning) are not part of the estimate.
var checkOps = map[string]bool{"HeadBucket": true, "GetBucketVersioning": true, "GetBucketEncryption": true,
	"GetBucketReplication": true, "ListObjects": true}

// TestEstimateMatchesRequests: the dry run's predicted requests of the
// copy phase, per operation, against what the copy then sends, counted by
// a proxy: exact where the count does not depend on the server's answers,
// inside the predicted range where it does (the read-back of --read-back
// auto). Plain, SSE-S3, SSE-KMS and SSE-C versions, delete markers, a
// source uploaded in parts (its layout replayed), server-side and
// streamed. The tool's own tally of the run agrees with the proxy.
func TestEstimateMatchesRequests(t *testing.T) {
	lab, c, w := newSource(t, "est-src")
	r := mrand.New(mrand.NewPCG(17, 17))
	tax := newCustomerKey("tax", true, "tax/")
	for k := range 40 {
		key := fmt.Sprintf("p/%02d", k)
		for v := range 1 + k%3 {
			v := &srcVersion{key: key, data: content(r, 100+v), enc: []string{encNone, encS3}[(k+v)%2]}
			if k%7 == 0 {
				v.enc, v.kmsKey = encKMS, lab.KMSKeys[1]
			}
			w.put(t, v)
		}
		if k%5 == 0 {
			w.del(t, key)
		}
	}
	for k := range 6 {
		w.put(t, &srcVersion{key: fmt.Sprintf("tax/%d", k), data: content(r, 50), enc: encC, ssec: tax})
	}
	w.put(t, &srcVersion{key: "big/multi", data: content(r, 12<<20+5), enc: encNone}) // uploaded in parts
	w.put(t, &srcVersion{key: "big/kms", data: content(r, 9<<20), enc: encKMS, kmsKey: lab.KMSKeys[1]})
	keyFile := writeKeyFile(t, []*customerKey{tax})
	// Without prefixes and with a key that opens nothing first: from an
	// inventory, each SSE-C version's keys are tried on the copy.
	decoy := newCustomerKey("decoy", true)
	trialKeys := writeKeyFile(t, []*customerKey{decoy, {id: tax.id, raw: tax.raw, inFile: true}})
	inv := lab.Bucket(t, c, "est-inv", false)
	manifest := uploadInventory(t, c, w.bucket, inv, "CSV", inventoryOf(t, w))
	p := newProxy(t, lab, lab.Endpoint)

	for _, mode := range []struct {
		name, copyMode, readBack string
		inventory, throttled     bool
	}{
		{name: "server-side, read-back always", copyMode: "server", readBack: "always"},
		{name: "server-side, read-back auto", copyMode: "server", readBack: "auto"},
		{name: "streamed", copyMode: "stream", readBack: "always"},
		{name: "from an inventory, SSE-C keys tried on the copy", copyMode: "server", readBack: "always", inventory: true},
		{name: "throttled", copyMode: "server", readBack: "always", throttled: true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dst := lab.Bucket(t, c, "est-dst", true)
			db, _ := jobFiles(t)
			keys := keyFile
			if mode.inventory {
				keys = trialKeys
			}
			flags := []string{"--db", db, "--endpoint-url", p.url(), "--ca-bundle", p.caBundle, "--keys", keys,
				"--replicate-kms", "--replica-kms-key-id", lab.KMSKeys[2], "--delete-markers", "--no-kms-probe",
				"--multipart-threshold", "8MiB", "--part-size", "5MiB", "--copy-mode", mode.copyMode, "--read-back", mode.readBack}
			first := []string{"run", "--source", "s3://" + w.bucket, "--dest", "s3://" + dst, "--dry-run"}
			if mode.inventory {
				first = append(first, "--manifest", manifest)
			}
			dry := tool(t, lab, nil, append(first, flags...)...)
			if dry.code != 0 || !strings.Contains(dry.stdout, "your contract may differ") || !strings.Contains(dry.stdout, "time: about") {
				t.Fatalf("dry run: %s", dry)
			}
			want := estimated(t, dry.stdout)
			if mode.throttled {
				// S3 slows the copy down: a few copies are retried, which
				// no estimate can know of; they stay within 5%.
				p.setFaults(func(r *http.Request, n int) fault {
					if requestKind(r) == "CopyObject" && n%30 == 0 {
						return slowDown
					}
					return pass
				})
				defer p.setFaults(nil)
				for op, wr := range want {
					want[op] = [2]int64{wr[0], wr[1] + (wr[1]+19)/20}
				}
			}
			from := p.total()
			res := tool(t, lab, nil, append([]string{"copy"}, flags...)...)
			if res.code != 0 {
				t.Fatalf("copy: %s", res)
			}
			got := p.opsSince(from)
			if mode.inventory {
				if r := want["CopyObject"]; r[0] == r[1] {
					t.Errorf("CopyObject predicted %v: keys tried on the copy make a range", r)
				}
			}
			for op, n := range got {
				if checkOps[op] {
					continue
				}
				wr, ok := want[op]
				switch {
				case !ok:
					t.Errorf("%s: %d sent, none predicted", op, n)
				case n < wr[0] || n > wr[1]:
					t.Errorf("%s: %d sent, %d–%d predicted", op, n, wr[0], wr[1])
				}
			}
			for op, wr := range want {
				if got[op] == 0 && wr[0] > 0 {
					t.Errorf("%s: none sent, %d–%d predicted", op, wr[0], wr[1])
				}
			}
			t.Logf("predicted %v\nsent %v", want, got)
			// The run's own tally, by operation, is what the proxy saw.
			m := regexp.MustCompile(`this run: ([0-9,]+) S3 requests`).FindStringSubmatch(res.stdout)
			if m == nil {
				t.Fatalf("no tally after the run:\n%s", res.stdout)
			}
			var all int64
			for _, n := range got {
				all += n
			}
			if tally, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64); tally != all {
				t.Errorf("the run tallied %d requests, the proxy saw %d", tally, all)
			}
			if st := tool(t, lab, nil, "status", "--db", db); !strings.Contains(st.stdout, "sent so far:") {
				t.Errorf("status shows no tally:\n%s", st.stdout)
			}
			checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
				switch {
				case v.deleteMarker:
					return expectation{status: "succeeded"}
				case v.enc == encKMS:
					return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(lab.KMSKeys[2])}
				case v.enc == encC:
					return expectation{status: "succeeded", enc: encC, ssec: v.ssec}
				}
				return expectation{status: "succeeded", enc: v.enc}
			}})
		})
	}
}
