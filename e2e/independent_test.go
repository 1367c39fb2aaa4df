package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// The tests that promise one replica per version count what the servers
// hold with MinIO's own client, mc, which the lab builds: never with
// s3backfill's code, whose listing they would otherwise trust.

// mcVersion is one version or delete marker as mc lists it.
type mcVersion struct {
	Key            string `json:"key"`
	VersionID      string `json:"versionId"`
	Size           int64  `json:"size"`
	ETag           string `json:"etag"`
	IsDeleteMarker bool   `json:"isDeleteMarker"`
	Ordinal        int    `json:"versionOrdinal"`
	Type           string `json:"type"`
	Status         string `json:"status"`
	URL            string `json:"url"` // of the object (its key is then relative to the path asked for)
}

// mc runs mc against the lab server at endpoint, as alias "lab".
func mc(t *testing.T, lab *labenv.Lab, endpoint string, args ...string) []byte {
	t.Helper()
	if lab.MC == "" {
		t.Fatal("the lab has no mc, the independent client the tests count with: restart it (scripts/lab stop; scripts/lab start)")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(lab.AccessKey(), lab.Secret())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lab.MC, append([]string{"--config-dir", filepath.Join(lab.Dir, "mc"), "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "MC_HOST_lab="+u.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mc %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return out
}

// mcLines decodes mc's JSON lines.
func mcLines(t *testing.T, out []byte) []mcVersion {
	t.Helper()
	var vs []mcVersion
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v mcVersion
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("mc output %q: %v", sc.Text(), err)
		}
		if v.Status != "success" {
			t.Fatalf("mc: %s", sc.Text())
		}
		vs = append(vs, v)
	}
	return vs
}

// mcHistories lists every version and delete marker of a bucket with mc,
// by key, oldest first.
func mcHistories(t *testing.T, lab *labenv.Lab, endpoint, bucket string) map[string][]mcVersion {
	t.Helper()
	out := map[string][]mcVersion{}
	for _, v := range mcLines(t, mc(t, lab, endpoint, "ls", "--versions", "--recursive", "lab/"+bucket)) {
		out[v.Key] = append(out[v.Key], v)
	}
	for _, vs := range out {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Ordinal < vs[j].Ordinal })
	}
	return out
}

// mcIncompleteUploads counts the incomplete multipart uploads of exactly
// key (the form of listing MinIO answers for every upload).
func mcIncompleteUploads(t *testing.T, lab *labenv.Lab, endpoint, bucket, key string) int {
	t.Helper()
	n := 0
	for _, v := range mcLines(t, mc(t, lab, endpoint, "ls", "--incomplete", "--recursive", "lab/"+bucket+"/"+key)) {
		if strings.HasSuffix(v.URL, "/"+bucket+"/"+key) {
			n++
		}
	}
	return n
}

// sameHistories checks, with mc's listings, that every key of the
// destination holds its source key's history exactly once: the same
// sequence of versions and delete markers, sizes and ETags (every test
// version is plaintext, so replicas keep their ETags), nothing more.
func sameHistories(t *testing.T, lab *labenv.Lab, endpoint, src, dst string) (versions int) {
	t.Helper()
	want, got := mcHistories(t, lab, endpoint, src), mcHistories(t, lab, endpoint, dst)
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: key %q is not in the source", dst, key)
		}
	}
	for key, ws := range want {
		gs := got[key]
		if len(gs) != len(ws) {
			t.Errorf("%s: %q holds %d versions and delete markers, the source %d", dst, key, len(gs), len(ws))
			continue
		}
		for i := range ws {
			w, g := ws[i], gs[i]
			if g.IsDeleteMarker != w.IsDeleteMarker || g.Size != w.Size || (!w.IsDeleteMarker && g.ETag != w.ETag) {
				t.Errorf("%s: %q version %d is %+v, the source's %+v", dst, key, i+1, g, w)
			}
		}
		versions += len(ws)
	}
	return versions
}
