package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestSSECTenantsLearnedKeys: 20 tenant folders of 25 SSE-C objects, each
// tenant under its own key, copied with a key file of 200 keys without
// prefixes (the tenants' keys among 180 others, in no useful order). The
// key that opens a folder is learned from its first versions: after that,
// its versions are opened at the first try. Every version is copied to
// the right replica key, the same as with a key file naming each tenant's
// key by prefix; the requests spent on wrong keys are counted by a proxy
// and by the tool. After 5 new versions per tenant, a rerun opens every
// one at the first try, from what the checkpoint kept.
func TestSSECTenantsLearnedKeys(t *testing.T) {
	lab, c, w := newSource(t, "tenants-src")
	const tenants, perTenant, decoys = 20, 25, 180
	r := mrand.New(mrand.NewPCG(16, 16))
	var keys []*customerKey
	tenantKey := make([]*customerKey, tenants)
	for i := range tenants {
		tenantKey[i] = newCustomerKey(fmt.Sprintf("tenant-%02d", i), true)
		keys = append(keys, tenantKey[i])
	}
	for i := range decoys {
		keys = append(keys, newCustomerKey(fmt.Sprintf("other-%03d", i), true))
	}
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	seed := func(from, to int) {
		for tn := range tenants {
			for i := from; i < to; i++ {
				w.put(t, &srcVersion{key: fmt.Sprintf("tenant-%02d/obj-%03d", tn, i), data: content(r, 64), enc: encC, ssec: tenantKey[tn]})
			}
		}
	}
	seed(0, perTenant)

	// The same source with the tenants' keys named by prefix: each version
	// opened at the first try. What the 200 keys add is measured against it.
	prefixed := make([]*customerKey, tenants)
	for i, k := range tenantKey {
		prefixed[i] = &customerKey{id: k.id, raw: k.raw, prefixes: []string{fmt.Sprintf("tenant-%02d/", i)}, inFile: true}
	}
	p := newProxy(t, lab, lab.Endpoint)
	run := func(keyFile, dst, db string) (requests, trials int) {
		t.Helper()
		before, t0 := p.total(), time.Now()
		defer func() { t.Logf("run: %d requests in %.1f s", requests, time.Since(t0).Seconds()) }()
		res := tool(t, lab, nil, "run", "--source", "s3://"+w.bucket, "--dest", "s3://"+dst, "--db", db, "--keys", keyFile,
			"--endpoint-url", p.url(), "--ca-bundle", p.caBundle)
		if res.code != 0 {
			t.Fatalf("%s", res)
		}
		return p.total() - before, keyTrials(t, lab, db)
	}
	baseDst := lab.Bucket(t, c, "tenants-base", true)
	baseDB, _ := jobFiles(t)
	baseReq, baseTrials := run(writeKeyFile(t, prefixed), baseDst, baseDB)

	dst := lab.Bucket(t, c, "tenants-dst", true)
	db, _ := jobFiles(t)
	keyFile := writeKeyFile(t, keys)
	req, trials := run(keyFile, dst, db)
	n := tenants * perTenant
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: encC, ssec: v.ssec}
	}})
	extra := float64(req-baseReq) / float64(n)
	t.Logf("%d versions: %d requests with each tenant's key named by prefix (%d on wrong keys), %d with 200 keys and no prefixes (%d on wrong keys, %.2f per version more)",
		n, baseReq, baseTrials, req, trials, extra)
	// The tool's count of wrong keys is what the proxy counted more.
	if diff := req - baseReq - trials; diff*10 > trials || -diff*10 > trials {
		t.Errorf("the tool counted %d requests on wrong keys; the proxy %d more requests than the prefixed run", trials, req-baseReq)
	}
	// A folder's key is found once: at worst every key is tried once per
	// folder (and once more by each worker that started on the folder
	// before its key was learned), never once per version.
	if limit := tenants*len(keys) + 16*len(keys); trials > limit {
		t.Errorf("%d requests on wrong keys for %d versions: more than one pass over the keys per folder (%d)", trials, n, limit)
	}
	if perVersion := float64(trials) / float64(n); perVersion > float64(len(keys))/2 {
		t.Errorf("%.1f wrong keys tried per version: the learned order does not help", perVersion)
	}

	// Five new versions per tenant: opened at the first try, from what the
	// checkpoint kept.
	seed(perTenant, perTenant+5)
	_, again := run(keyFile, dst, db)
	if again != 0 {
		t.Errorf("the rerun tried %d wrong keys on %d new versions, want none", again, tenants*5)
	}
	checkReplicas(t, w, c, replicaCheck{dest: dst, expect: func(v *srcVersion) expectation {
		return expectation{status: "succeeded", enc: encC, ssec: v.ssec}
	}})
}

// keyTrials is what status says the last run spent on wrong SSE-C keys.
func keyTrials(t *testing.T, lab *labenv.Lab, db string) int {
	t.Helper()
	st := tool(t, lab, nil, "status", "--db", db)
	if st.code != 0 {
		t.Fatalf("status: %s", st)
	}
	m := regexp.MustCompile(`(\d+) requests tried SSE-C keys that did not open the version`).FindStringSubmatch(st.stdout)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
