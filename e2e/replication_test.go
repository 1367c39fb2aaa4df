package e2e

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// TestReplicationConfigRules runs a replication configuration with
// overlapping prefix and tag rules of different priorities, a Disabled rule
// that would otherwise win, per-rule storage class, KMS opt-in and delete
// marker settings, and two destination buckets. Each destination must get
// exactly what the winning rule for it says, and the report must name the
// rule and the reason for every skip.
//
//	A  docs/           priority 1  -> dst1  KMS off, delete markers on
//	B  tag project=x   priority 2  -> dst1  REDUCED_REDUNDANCY, KMS on (lab-key-1)
//	D  other/          priority 10 -> dst1  Disabled (would win over B)
//	C  every key       priority 3  -> dst2  KMS on (lab-key-3), delete markers off
func TestReplicationConfigRules(t *testing.T) {
	lab, c, w := newSource(t, "cfg-src")
	src := w.bucket
	dst1 := lab.Bucket(t, c, "cfg-dst1", true)
	dst2 := lab.Bucket(t, c, "cfg-dst2", true)
	srcKMS, bKMS, cKMS := lab.KMSKeys[2], lab.KMSKeys[1], lab.KMSKeys[3]
	r := mrand.New(mrand.NewPCG(31, 7))
	x := map[string]string{"project": "x"}

	w.put(t, &srcVersion{key: "docs/a.txt", data: content(r, 120), enc: encNone, storageClass: "REDUCED_REDUNDANCY", meta: map[string]string{"v": "1"}})
	w.put(t, &srcVersion{key: "docs/a.txt", data: content(r, 130), enc: encS3})
	w.del(t, "docs/a.txt")
	w.put(t, &srcVersion{key: "docs/kms.txt", data: content(r, 140), enc: encKMS, kmsKey: srcKMS})
	w.put(t, &srcVersion{key: "docs/tagged.txt", data: content(r, 150), enc: encNone, tags: x})
	w.put(t, &srcVersion{key: "docs/tagged-kms.txt", data: content(r, 160), enc: encKMS, kmsKey: srcKMS, tags: map[string]string{"project": "x", "team": "t1"}})
	// One key whose versions go by different rules: the untagged first by
	// A, the tagged second by B; the replica keeps their order.
	w.put(t, &srcVersion{key: "docs/mixed.txt", data: content(r, 170), enc: encNone})
	w.put(t, &srcVersion{key: "docs/mixed.txt", data: content(r, 180), enc: encNone, tags: x})
	w.put(t, &srcVersion{key: "other/x.bin", data: content(r, 190), enc: encNone, tags: map[string]string{"project": "y"}})
	w.put(t, &srcVersion{key: "other/tagged.bin", data: content(r, 200), enc: encS3, tags: x})

	cfg := writeConfig(t, jsonObject{
		"Role": "arn:aws:iam::111122223333:role/replication",
		"Rules": []jsonObject{
			{
				"ID": "A-docs", "Priority": 1, "Status": "Enabled",
				"Filter":                  jsonObject{"Prefix": "docs/"},
				"DeleteMarkerReplication": jsonObject{"Status": "Enabled"},
				"Destination":             jsonObject{"Bucket": bucketARN(dst1)},
			},
			{
				"ID": "B-project-x", "Priority": 2, "Status": "Enabled",
				"Filter":                  jsonObject{"Tag": jsonObject{"Key": "project", "Value": "x"}},
				"DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
				"SourceSelectionCriteria": jsonObject{"SseKmsEncryptedObjects": jsonObject{"Status": "Enabled"}},
				"Destination": jsonObject{
					"Bucket": bucketARN(dst1), "StorageClass": "REDUCED_REDUNDANCY",
					"EncryptionConfiguration": jsonObject{"ReplicaKmsKeyID": bKMS},
				},
			},
			{
				"ID": "D-disabled", "Priority": 10, "Status": "Disabled",
				"Filter":                  jsonObject{"Prefix": "other/"},
				"DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
				"Destination":             jsonObject{"Bucket": bucketARN(dst1), "StorageClass": "STANDARD"},
			},
			{
				"ID": "C-all", "Priority": 3, "Status": "Enabled",
				"Filter":                  jsonObject{"Prefix": ""},
				"DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
				"SourceSelectionCriteria": jsonObject{"SseKmsEncryptedObjects": jsonObject{"Status": "Enabled"}},
				"Destination": jsonObject{
					"Bucket":                  bucketARN(dst2),
					"EncryptionConfiguration": jsonObject{"ReplicaKmsKeyID": cKMS},
				},
			},
		},
	})
	db, reportPath := jobFiles(t)
	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--replication-config", cfg, "--db", db,
		"--report", reportPath, "--endpoint-url", lab.Endpoint)
	if res.code != 0 {
		t.Fatalf("exit %d, want 0 (every version replicated or skipped by a rule)\n%s", res.code, res)
	}
	for _, note := range []string{"D-disabled", "Role"} {
		if !strings.Contains(res.stderr, note) {
			t.Errorf("the run does not tell the user about %s (the Disabled rule, the ignored Role):\n%s", note, res.stderr)
		}
	}
	rep := readDestReport(t, reportPath)
	rep.checkShape(t, 2*w.total())

	noRule := "no enabled replication rule replicates this version to bucket " + dst1
	checkReplicas(t, w, c, replicaCheck{dest: dst1, report: rep, expect: func(v *srcVersion) expectation {
		tagged := v.tags["project"] == "x"
		switch {
		case v.deleteMarker: // tag rules never take delete markers: A's, with markers on
			return expectation{status: "succeeded", rule: "A-docs"}
		case tagged && v.enc == encKMS: // B beats A (priority 2 > 1) and opts in to KMS
			return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(bKMS), class: "REDUCED_REDUNDANCY", rule: "B-project-x"}
		case tagged: // B, also under other/ where the higher, Disabled D must not shadow it
			return expectation{status: "succeeded", enc: v.enc, class: "REDUCED_REDUNDANCY", rule: "B-project-x"}
		case strings.HasPrefix(v.key, "docs/") && v.enc == encKMS:
			return expectation{status: "skipped", rule: "A-docs", messages: []string{"KMS replication not enabled"}}
		case strings.HasPrefix(v.key, "docs/"): // A keeps the source's storage class
			return expectation{status: "succeeded", enc: v.enc, rule: "A-docs"}
		default: // other/x.bin: only the Disabled D would take it
			return expectation{status: "skipped", messages: []string{noRule}}
		}
	}})
	checkReplicas(t, w, c, replicaCheck{dest: dst2, report: rep, expect: func(v *srcVersion) expectation {
		switch {
		case v.deleteMarker:
			return expectation{status: "skipped", rule: "C-all", messages: []string{"delete marker replication not enabled"}}
		case v.enc == encKMS:
			return expectation{status: "succeeded", enc: encKMS, kms: kmsARN(cKMS), rule: "C-all"}
		default:
			return expectation{status: "succeeded", enc: v.enc, rule: "C-all"}
		}
	}})
}

// TestReplicationConfigTwoDestinations: one configuration, two rules for
// every key to two buckets with different choices; the full seeded world
// (every encryption, SSE-C keys found by prefix and by trial and rotated,
// delete markers, a null version, multipart copies, awkward names) must
// reach each destination complete and in order, as the one-destination
// flags would have it, and a second run copies nothing.
func TestReplicationConfigTwoDestinations(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "two-src", false) // versioned after the null version
	dstA := lab.Bucket(t, c, "two-dsta", true)
	dstB := lab.Bucket(t, c, "two-dstb", true)
	w := seedFullWorld(t, lab, c, src)
	keyFile := writeKeyFile(t, w.customerKeys())
	kmsReplica := lab.KMSKeys[3]
	cfg := writeConfig(t, jsonObject{"Rules": []jsonObject{
		{
			"ID": "to-a", "Priority": 1, "Status": "Enabled", "Filter": jsonObject{},
			"DeleteMarkerReplication": jsonObject{"Status": "Enabled"},
			"SourceSelectionCriteria": jsonObject{"SseKmsEncryptedObjects": jsonObject{"Status": "Enabled"}},
			"Destination":             jsonObject{"Bucket": bucketARN(dstA), "EncryptionConfiguration": jsonObject{"ReplicaKmsKeyID": kmsReplica}},
		},
		{
			"ID": "to-b", "Priority": 2, "Status": "Enabled", "Filter": jsonObject{"Prefix": ""},
			"DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
			"Destination":             jsonObject{"Bucket": bucketARN(dstB)},
		},
	}})
	db, reportPath := jobFiles(t)
	var out outputs
	first := tool(t, lab, &out, "run", "--source", "s3://"+src, "--replication-config", cfg, "--db", db,
		"--keys", keyFile, "--report", reportPath, "--endpoint-url", lab.Endpoint,
		"--multipart-threshold", "5MiB", "--part-size", "5MiB", "--workers", "8")
	if first.code != 3 {
		t.Fatalf("exit %d, want 3 (the versions under a key nobody gave fail)\n%s", first.code, first)
	}
	// Each destination as the one-destination flags would have it, by its
	// rule.
	byRule := func(rule string, expect func(*srcVersion) expectation) func(*srcVersion) expectation {
		return func(v *srcVersion) expectation {
			e := expect(v)
			e.rule = rule
			return e
		}
	}
	rep := readDestReport(t, reportPath)
	rep.checkShape(t, 2*w.total())
	checkReplicas(t, w.world, c, replicaCheck{dest: dstA, report: rep, expect: byRule("to-a", w.expect(true, kmsReplica, true))})
	checkReplicas(t, w.world, c, replicaCheck{dest: dstB, report: rep, expect: byRule("to-b", w.expect(false, "", false))})
	checkMultipartReplicas(t, c, dstA, w, "big/plain.bin", "big/kms.bin", "Tax/big-ssec.bin")
	checkMultipartReplicas(t, c, dstB, w, "big/plain.bin", "Tax/big-ssec.bin") // no KMS replicas there

	status := tool(t, lab, &out, "status", "--db", db)
	if status.code != 0 || !strings.Contains(status.stdout, dstA) || !strings.Contains(status.stdout, dstB) {
		t.Errorf("status does not count by destination:\n%s", status)
	}

	before := map[string]map[string][]destVersion{dstA: listVersions(t, c, dstA), dstB: listVersions(t, c, dstB)}
	second := tool(t, lab, &out, "run", "--db", db)
	if second.code != 3 {
		t.Fatalf("second run: exit %d, want 3\n%s", second.code, second)
	}
	for _, d := range []string{dstA, dstB} {
		if after := listVersions(t, c, d); !sameVersions(before[d], after) {
			t.Errorf("the second run changed %s", d)
		}
	}
	files := append([]string{reportPath}, mustGlob(t, db+"*")...)
	checkNoSecrets(t, w.customerKeys(), files, out.all.Bytes())
}

// TestReplicationConfigInvalid: a configuration S3 would refuse, or that
// s3backfill cannot apply, stops the run before anything is contacted for
// copying (exit 2), with a message that names the rule and the field; so
// does mixing the configuration with the one-rule flags.
func TestReplicationConfigInvalid(t *testing.T) {
	lab, c, w := newSource(t, "bad-src")
	src := w.bucket
	dst := lab.Bucket(t, c, "bad-dst", true)
	r := mrand.New(mrand.NewPCG(3, 3))
	w.put(t, &srcVersion{key: "docs/a", data: content(r, 10), enc: encNone})

	rule := func(id string, prio int, mod func(jsonObject)) jsonObject {
		o := jsonObject{
			"ID": id, "Priority": prio, "Status": "Enabled", "Filter": jsonObject{"Prefix": "docs/"},
			"DeleteMarkerReplication": jsonObject{"Status": "Disabled"},
			"Destination":             jsonObject{"Bucket": bucketARN(dst)},
		}
		if mod != nil {
			mod(o)
		}
		return o
	}
	rules := func(rs ...jsonObject) string {
		b := strings.Builder{}
		b.WriteString(`{"Rules": [`)
		for i, r := range rs {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(mustJSON(t, r))
		}
		b.WriteString("]}")
		return b.String()
	}
	cases := []struct {
		name string
		json string
		want []string // in stderr
	}{
		{"duplicate priority", rules(rule("first", 1, nil), rule("second", 1, nil)), []string{"second", "Priority"}},
		{"destination not an ARN", rules(rule("arn", 1, func(o jsonObject) { o["Destination"] = jsonObject{"Bucket": dst} })),
			[]string{"arn", "Destination.Bucket", "arn:aws:s3:::" + dst}},
		{"KMS opt-in without a replica key", rules(rule("kms", 1, func(o jsonObject) {
			o["SourceSelectionCriteria"] = jsonObject{"SseKmsEncryptedObjects": jsonObject{"Status": "Enabled"}}
		})), []string{"kms", "ReplicaKmsKeyID"}},
		{"V2 rule without DeleteMarkerReplication", rules(rule("nodm", 1, func(o jsonObject) { delete(o, "DeleteMarkerReplication") })),
			[]string{"nodm", "DeleteMarkerReplication"}},
		{"misspelt field", rules(rule("typo", 1, func(o jsonObject) { o["Destnation"] = o["Destination"] })),
			[]string{"typo", "Destnation"}},
		{"lower-case status", rules(rule("lower", 1, func(o jsonObject) { o["Status"] = "enabled" })), []string{"lower", "Status"}},
		{"filter with prefix and tag", rules(rule("both", 1, func(o jsonObject) {
			o["Filter"] = jsonObject{"Prefix": "a/", "Tag": jsonObject{"Key": "k", "Value": "v"}}
		})), []string{"both", "Filter"}},
		{"delete markers with a tag filter", rules(rule("tagdm", 1, func(o jsonObject) {
			o["Filter"] = jsonObject{"Tag": jsonObject{"Key": "k", "Value": "v"}}
			o["DeleteMarkerReplication"] = jsonObject{"Status": "Enabled"}
		})), []string{"tagdm", "DeleteMarkerReplication"}},
		{"unknown storage class", rules(rule("class", 1, func(o jsonObject) {
			o["Destination"] = jsonObject{"Bucket": bucketARN(dst), "StorageClass": "COLD"}
		})), []string{"class", "Destination.StorageClass", "COLD"}},
		{"rule without an ID", rules(rule("named", 1, nil), rule("", 2, func(o jsonObject) { delete(o, "ID"); delete(o, "Priority") })),
			[]string{"rule 2", "Priority"}},
		{"V1 and V2 rules mixed", rules(rule("v2", 1, nil), jsonObject{"ID": "v1", "Status": "Enabled", "Prefix": "logs/",
			"Destination": jsonObject{"Bucket": bucketARN(dst)}}), []string{"v1", "Filter"}},
		{"no enabled rule", rules(rule("off", 1, func(o jsonObject) { o["Status"] = "Disabled" })), []string{"no enabled rule"}},
		{"not JSON", `{"Rules": [`, []string{"--replication-config"}},
	}
	for i, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			cfg := writeTempText(t, "replication.json", tc.json)
			db := filepath.Join(t.TempDir(), fmt.Sprintf("job%d.db", i))
			res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--replication-config", cfg, "--db", db,
				"--endpoint-url", lab.Endpoint)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2 (usage error)\n%s", res.code, res)
			}
			for _, s := range tc.want {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("the message does not name %q:\n%s", s, res.stderr)
				}
			}
		})
	}

	good := writeConfig(t, jsonObject{"Rules": []jsonObject{rule("ok", 1, nil)}})
	for _, extra := range [][]string{
		{"--dest", "s3://" + dst},
		{"--delete-markers"},
		{"--replicate-kms", "--replica-kms-key-id", lab.KMSKeys[1]},
		{"--replica-kms-key-id", lab.KMSKeys[1]},
		{"--replication-config-from-source"},
	} {
		t.Run("mixed_"+strings.TrimPrefix(extra[0], "--"), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "job.db")
			args := append([]string{"run", "--source", "s3://" + src, "--replication-config", good, "--db", db,
				"--endpoint-url", lab.Endpoint}, extra...)
			res := tool(t, lab, nil, args...)
			if res.code != 2 || !strings.Contains(res.stderr, strings.Fields(extra[0])[0]) {
				t.Errorf("exit %d, want 2 with a message naming %s\n%s", res.code, extra[0], res)
			}
		})
	}

	// --replication-config-from-source on a bucket without a configuration.
	t.Run("from_source_without_config", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "job.db")
		res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--replication-config-from-source", "--db", db,
			"--endpoint-url", lab.Endpoint)
		if res.code != 1 {
			t.Errorf("exit %d, want 1", res.code)
		}
		if !strings.Contains(res.stderr, src) || !strings.Contains(res.stderr, "no replication configuration") {
			t.Errorf("the message does not say that bucket %s has no replication configuration:\n%s", src, res)
		}
	})

	// A good configuration job then runs: the cases above are refused for
	// what they say, not for something else in the setup.
	db := filepath.Join(t.TempDir(), "job.db")
	if res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--replication-config", good, "--db", db,
		"--endpoint-url", lab.Endpoint); res.code != 0 {
		t.Fatalf("the valid configuration: exit %d\n%s", res.code, res)
	}
	if got := keysUnder(t, c, dst, ""); len(got) != 1 {
		t.Errorf("after the valid run %s holds %v, want docs/a once", dst, got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportRowsNameTheirDestination: with several destinations the report
// has one row per (version, destination), so every row must say which
// destination it is about, the skipped ones too: a version no rule sends
// to a bucket, and a version a selection filter leaves out (whose rows
// would otherwise be identical).
func TestReportRowsNameTheirDestination(t *testing.T) {
	lab, c, w := newSource(t, "rnd-src")
	src := w.bucket
	dst1 := lab.Bucket(t, c, "rnd-dst1", true)
	dst2 := lab.Bucket(t, c, "rnd-dst2", true)
	r := mrand.New(mrand.NewPCG(9, 9))
	w.put(t, &srcVersion{key: "docs/in.txt", data: content(r, 10), enc: encNone})
	w.put(t, &srcVersion{key: "other/in.txt", data: content(r, 10), enc: encNone}) // no rule to dst1
	w.put(t, &srcVersion{key: "docs/out.bin", data: content(r, 10), enc: encNone}) // filtered out
	cfg := writeConfig(t, jsonObject{"Rules": []jsonObject{
		{"ID": "docs", "Priority": 1, "Status": "Enabled", "Filter": jsonObject{"Prefix": "docs/"},
			"DeleteMarkerReplication": jsonObject{"Status": "Disabled"}, "Destination": jsonObject{"Bucket": bucketARN(dst1)}},
		{"ID": "all", "Priority": 2, "Status": "Enabled", "Filter": jsonObject{},
			"DeleteMarkerReplication": jsonObject{"Status": "Disabled"}, "Destination": jsonObject{"Bucket": bucketARN(dst2)}},
	}})
	db, reportPath := jobFiles(t)
	res := tool(t, lab, nil, "run", "--source", "s3://"+src, "--replication-config", cfg, "--db", db,
		"--report", reportPath, "--endpoint-url", lab.Endpoint, "--key-suffix", ".txt")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res)
	}
	rep := readDestReport(t, reportPath)
	for _, key := range w.keys {
		v := w.versions[key][0]
		rows := rep.byVer[key+"@"+v.versionID]
		var dests []string
		for _, row := range rows {
			dests = append(dests, row["DestinationBucket"])
		}
		sort.Strings(dests)
		if want := []string{dst1, dst2}; strings.Join(dests, ",") != strings.Join(want, ",") {
			t.Errorf("%s: the rows name destinations %q, want %q (rows: %v)", key, dests, want, rows)
		}
	}
}
