package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// replicationProbes are the keys and tags the golden file matches every
// configuration in testdata/replication against.
var replicationProbes = []struct {
	key  string
	tags map[string]string
}{
	{"Tax/2024/return.pdf", nil},
	{"Taxes.csv", nil},
	{"Tax/2024/return.pdf", map[string]string{"class": "archive"}},
	{"logs/app.log", nil},
	{"logs/app.log", map[string]string{"class": "archive"}},
	{"logs/app.log", map[string]string{"class": "ARCHIVE"}},
	{"photos/a.jpg", map[string]string{"class": "archive", "team": "x"}},
	{"star", nil},
	{"starship-x", nil},
	{"rule1-prefix/a", nil},
	{"rule2-prefix/a", nil},
	{"", nil},
}

// TestReplicationGolden parses every configuration in testdata/replication
// (the seed docs' examples among them) and records the model, the notes
// and what the replicationProbes match in testdata/replication.golden.
func TestReplicationGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "replication", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configurations: %v", err)
	}
	var out bytes.Buffer
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseReplicationConfig(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		fmt.Fprintf(&out, "== %s\n%s\n", filepath.Base(f), describeReplication(c))
	}
	golden := filepath.Join("testdata", "replication.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./planner -run TestReplicationGolden -update to create it)", err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("replication output differs from %s (rerun with -update if the change is intended):\n%s", golden, lineDiff(string(want), got))
	}
}

func describeReplication(c *ReplicationConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "role: %q\n", c.Role)
	for i := range c.Rules {
		r := &c.Rules[i]
		state, version, prio := "enabled", "v2", "-"
		if !r.Enabled {
			state = "disabled"
		}
		if r.V1 {
			version = "v1"
		}
		if r.HasPriority {
			prio = fmt.Sprint(r.Priority)
		}
		fmt.Fprintf(&b, "%s: %s %s priority=%s prefix=%q tags=%s delete-markers=%t kms=%t replica-mods=%t existing=%t not-applied=%v\n",
			r.name(i), state, version, prio, r.Prefix, formatTags(r.Tags), r.DeleteMarkers, r.ReplicateKMS, r.ReplicaModifications, r.ExistingObjects, r.notApplied)
		d := r.Dest
		fmt.Fprintf(&b, "    dest=%s arn=%s class=%q replica-kms=%q account=%q owner-override=%t\n",
			d.Bucket, d.BucketARN, d.StorageClass, d.ReplicaKMSKeyID, d.Account, d.OwnerOverride)
	}
	fmt.Fprintf(&b, "destinations: %v\nneeds-tags: %t\n", c.Destinations(), c.NeedsTags())
	for _, n := range c.Notes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, p := range replicationProbes {
		var got []string
		for _, r := range c.Match(p.key, p.tags) {
			got = append(got, fmt.Sprintf("%s<-%s", r.Dest.Bucket, r.name(ruleIndex(c, r))))
		}
		if len(got) > 0 {
			fmt.Fprintf(&b, "match %q %s -> %s\n", p.key, formatTags(p.tags), strings.Join(got, ", "))
		}
	}
	return b.String()
}

func formatTags(tags map[string]string) string {
	var kv []string
	for k, v := range tags {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

func TestParseReplicationBothForms(t *testing.T) {
	const bare = `{"Role": "arn:aws:iam::1:role/r", "Rules": [{"ID": "a", "Priority": 1, "Status": "Enabled",
		"Filter": {"Prefix": "x/"}, "DeleteMarkerReplication": {"Status": "Enabled"},
		"Destination": {"Bucket": "arn:aws:s3:::dst"}}]}`
	want := &ReplicationConfig{Role: "arn:aws:iam::1:role/r", Rules: []ReplicationRule{{
		ID: "a", Priority: 1, HasPriority: true, Enabled: true, Prefix: "x/", DeleteMarkers: true,
		Dest: ReplicationDestination{BucketARN: "arn:aws:s3:::dst", Bucket: "dst"},
	}}}
	for name, in := range map[string]string{
		"bare":                    bare,
		"wrapped":                 `{"ReplicationConfiguration": ` + bare + `}`,
		"wrapped with whitespace": "\n\t{ \"ReplicationConfiguration\" :\n" + bare + "\n}\n\n",
	} {
		got, err := ParseReplicationConfig(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// v2Rule is a valid V2 rule named a, with the members of extra (a JSON
// object's members) added or replacing its own; null removes one.
func v2Rule(extra string) string {
	return withMembers(`"ID": "a", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "p/"},
		"DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst"}`, extra)
}

// v1Rule is a valid V1 rule named a, changed as v2Rule changes its own.
func v1Rule(extra string) string {
	return withMembers(`"ID": "a", "Status": "Enabled", "Prefix": "p/", "Destination": {"Bucket": "arn:aws:s3:::dst"}`, extra)
}

func withMembers(base, extra string) string {
	var b, e map[string]json.RawMessage
	if err := json.Unmarshal([]byte("{"+base+"}"), &b); err != nil {
		panic(err)
	}
	if err := json.Unmarshal([]byte("{"+extra+"}"), &e); err != nil {
		panic(fmt.Sprintf("test rule members %s: %v", extra, err))
	}
	maps.Copy(b, e)
	out, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func replConfig(rs ...string) string {
	return `{"Role": "r", "Rules": [` + strings.Join(rs, ", ") + `]}`
}

func TestParseReplicationErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error, the rule and the field among them
	}{
		// The document.
		{"empty input", "", []string{"the input is empty"}},
		{"not an object", `[]`, []string{"not a JSON object"}},
		{"syntax error", `{"Rules": [}`, []string{"syntax error at byte"}},
		{"trailing data", replConfig(v2Rule("")) + ` {}`, []string{"unexpected data after the JSON object"}},
		{"no rules", `{"Role": "r", "Rules": []}`, []string{"no rules"}},
		{"no Rules field", `{"Role": "r"}`, []string{"no rules"}},
		{"unknown top-level field", `{"Role": "r", "Rule": [], "Rules": [` + v2Rule("") + `]}`, []string{`unknown top-level field "Rule"`, "Role, Rules"}},
		{"unknown field next to the wrapper", `{"ReplicationConfiguration": ` + replConfig(v2Rule("")) + `, "ResponseMetadata": {}}`,
			[]string{`unknown top-level field "ResponseMetadata"`}},
		{"wrapper not an object", `{"ReplicationConfiguration": []}`, []string{"ReplicationConfiguration is not a JSON object"}},
		{"Rules not an array", `{"Rules": {}}`, []string{"Rules: want an array"}},
		{"Role not a string", `{"Role": 1, "Rules": [` + v2Rule("") + `]}`, []string{"Role: want a string"}},
		{"too many rules", replConfig(slices.Repeat([]string{`{"Status": "Enabled", "Prefix": "", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`}, 1001)...),
			[]string{"1001 rules; S3 allows 1000"}},

		// Unknown fields and types, named with their path.
		{"unknown rule field", replConfig(v2Rule(`"Destinaton": {}`)), []string{`rule "a": unknown field "Destinaton" (fields here: ID, Priority, Status, Prefix, Filter, DeleteMarkerReplication, `}},
		{"unknown field in Destination", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "Bucketz": 1}`)),
			[]string{`rule "a": unknown field "Destination.Bucketz"`, "fields here: Bucket, Account"}},
		{"wrong case", replConfig(v2Rule(`"status": "Enabled"`)), []string{`rule "a": unknown field "status" (did you mean "Status"?)`}},
		{"unknown field in a tag", replConfig(v2Rule(`"Filter": {"And": {"Prefix": "p", "Tags": [{"Key": "k", "Val": "v"}]}}`)),
			[]string{`rule "a": unknown field "Filter.And.Tags[0].Val"`}},
		{"RTC field under Metrics", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "Metrics": {"Status": "Enabled", "Time": {"Minutes": 15}}}`)),
			[]string{`rule "a": unknown field "Destination.Metrics.Time"`}},
		{"Priority as a string", replConfig(v2Rule(`"Priority": "1"`)), []string{`rule "a": Priority: got a JSON string, want an integer`}},
		{"Tags not an array", replConfig(v2Rule(`"Filter": {"And": {"Prefix": "p", "Tags": {"Key": "k"}}}`)), []string{`rule "a": Filter.And.Tags: got a JSON object, want an array`}},
		{"unnamed rule", replConfig(v2Rule(""), `{"Status": "On", "Prefix": "", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`), []string{`rule 2: Status "On"`}},

		// Statuses.
		{"Status missing", replConfig(v2Rule(`"Status": null`)), []string{`rule "a": Status: missing; want Enabled or Disabled`}},
		{"Status lower case", replConfig(v2Rule(`"Status": "enabled"`)), []string{`rule "a": Status "enabled": want Enabled or Disabled`}},
		{"DeleteMarkerReplication.Status", replConfig(v2Rule(`"DeleteMarkerReplication": {"Status": "On"}`)), []string{`rule "a": DeleteMarkerReplication.Status "On"`}},
		{"DeleteMarkerReplication without Status", replConfig(v2Rule(`"DeleteMarkerReplication": {}`)), []string{`rule "a": DeleteMarkerReplication.Status: missing`}},
		{"SseKmsEncryptedObjects.Status", replConfig(v2Rule(`"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "true"}}`)),
			[]string{`rule "a": SourceSelectionCriteria.SseKmsEncryptedObjects.Status "true"`}},
		{"ReplicaModifications.Status", replConfig(v2Rule(`"SourceSelectionCriteria": {"ReplicaModifications": {}}`)),
			[]string{`rule "a": SourceSelectionCriteria.ReplicaModifications.Status: missing`}},
		{"ExistingObjectReplication.Status", replConfig(v2Rule(`"ExistingObjectReplication": {"Status": "Yes"}`)), []string{`rule "a": ExistingObjectReplication.Status "Yes"`}},
		{"ReplicationTime.Status", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "ReplicationTime": {"Time": {"Minutes": 15}}}`)),
			[]string{`rule "a": Destination.ReplicationTime.Status: missing`}},
		{"Metrics.Status", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "Metrics": {"Status": "on"}}`)), []string{`rule "a": Destination.Metrics.Status "on"`}},

		// Filters.
		{"Prefix and Filter", replConfig(v2Rule(`"Prefix": "p/"`)), []string{`rule "a": Prefix and Filter: use one`}},
		{"Filter with Prefix and Tag", replConfig(v2Rule(`"Filter": {"Prefix": "p", "Tag": {"Key": "k", "Value": "v"}}`)),
			[]string{`rule "a": Filter: has Prefix and Tag; a Filter takes exactly one of Prefix, Tag and And`}},
		{"Filter with all three", replConfig(v2Rule(`"Filter": {"Prefix": "p", "Tag": {"Key": "k", "Value": "v"}, "And": {}}`)), []string{`rule "a": Filter: has Prefix and Tag and And`}},
		{"And with a prefix only", replConfig(v2Rule(`"Filter": {"And": {"Prefix": "p"}}`)), []string{`rule "a": Filter.And: has 1 condition(s) and 0 tag(s)`}},
		{"And with one tag only", replConfig(v2Rule(`"Filter": {"And": {"Tags": [{"Key": "k", "Value": "v"}]}}`)), []string{`rule "a": Filter.And: has 1 condition(s)`, "Filter.Tag"}},
		{"empty And", replConfig(v2Rule(`"Filter": {"And": {}}`)), []string{`rule "a": Filter.And: has 0 condition(s)`}},
		{"Tag without Value", replConfig(v2Rule(`"Filter": {"Tag": {"Key": "k"}}`)), []string{`rule "a": Filter.Tag: want {"Key": ..., "Value": ...}`}},
		{"duplicate tag keys", replConfig(v2Rule(`"Filter": {"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}}`)),
			[]string{`rule "a": Filter.And.Tags[1]: tag key "k" appears twice`}},
		{"empty tag key", replConfig(v2Rule(`"Filter": {"Tag": {"Key": "", "Value": "v"}}`)), []string{`rule "a": Filter tag: empty Key`}},
		{"long tag key", replConfig(v2Rule(`"Filter": {"Tag": {"Key": "` + strings.Repeat("k", 129) + `", "Value": "v"}}`)), []string{`rule "a": Filter tag "kkk`, "S3 allows 128"}},
		{"long tag value", replConfig(v2Rule(`"Filter": {"Tag": {"Key": "k", "Value": "` + strings.Repeat("v", 257) + `"}}`)), []string{`rule "a": Filter tag "k": value of 257`}},
		{"long prefix", replConfig(v2Rule(`"Filter": {"Prefix": "` + strings.Repeat("p", 1025) + `"}`)), []string{`rule "a": Prefix: 1025 bytes; S3 allows 1024`}},

		// Schema versions.
		{"V2 without DeleteMarkerReplication", replConfig(v2Rule(`"DeleteMarkerReplication": null`)),
			[]string{`rule "a": DeleteMarkerReplication: missing; S3 requires it in a rule with a Filter (V2)`}},
		{"V2 without Priority", replConfig(v2Rule(`"Priority": null`)), []string{`rule "a": Priority: missing; S3 requires it in a rule with a Filter (V2)`}},
		{"V1 with Priority", replConfig(v1Rule(`"Priority": 1`)), []string{`rule "a": Priority: needs a V2 rule`, `"Filter": {}`}},
		{"V1 with DeleteMarkerReplication", replConfig(v1Rule(`"DeleteMarkerReplication": {"Status": "Disabled"}`)),
			[]string{`rule "a": DeleteMarkerReplication: needs a V2 rule`, "delete markers always replicate"}},
		{"V1 with ReplicaModifications", replConfig(v1Rule(`"SourceSelectionCriteria": {"ReplicaModifications": {"Status": "Disabled"}}`)),
			[]string{`rule "a": SourceSelectionCriteria.ReplicaModifications: needs a V2 rule`}},
		{"V1 with ReplicationTime", replConfig(v1Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "ReplicationTime": {"Status": "Enabled"}}`)),
			[]string{`rule "a": Destination.ReplicationTime: needs a V2 rule`}},
		{"V1 with Metrics", replConfig(v1Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "Metrics": {"Status": "Enabled"}}`)),
			[]string{`rule "a": Destination.Metrics: needs a V2 rule`}},
		{"V1 then V2", replConfig(v1Rule(""), strings.Replace(v2Rule(`"Priority": 2`), `"a"`, `"b"`, 1)),
			[]string{`rule "b": Filter: makes this a V2 rule, but rule "a" has none (V1)`}},
		{"V2 then V1", replConfig(v2Rule(""), strings.Replace(v1Rule(`"Prefix": "q/"`), `"a"`, `"b"`, 1)),
			[]string{`rule "b": Filter: missing, so this is a V1 rule, but rule "a" has a Filter (V2)`}},
		{"tag filter with delete markers", replConfig(v2Rule(`"Filter": {"Tag": {"Key": "k", "Value": "v"}}, "DeleteMarkerReplication": {"Status": "Enabled"}`)),
			[]string{`rule "a": DeleteMarkerReplication: Enabled is not allowed with a tag filter`}},
		{"And tags with delete markers", replConfig(v2Rule(`"Filter": {"And": {"Prefix": "", "Tags": [{"Key": "k", "Value": "v"}]}}, "DeleteMarkerReplication": {"Status": "Enabled"}`)),
			[]string{`rule "a": DeleteMarkerReplication: Enabled is not allowed with a tag filter`}},

		// Destinations.
		{"Destination missing", replConfig(v2Rule(`"Destination": null`)), []string{`rule "a": Destination: missing`}},
		{"Destination.Bucket missing", replConfig(v2Rule(`"Destination": {"StorageClass": "STANDARD"}`)), []string{`rule "a": Destination.Bucket: missing; want an S3 bucket ARN`}},
		{"bare bucket name", replConfig(strings.Replace(v2Rule(`"Destination": {"Bucket": "my-bucket"}`), `"a"`, `"archive"`, 1)),
			[]string{`rule "archive": Destination.Bucket "my-bucket": want an S3 bucket ARN (arn:aws:s3:::my-bucket)`}},
		{"s3 URL", replConfig(v2Rule(`"Destination": {"Bucket": "s3://my-bucket/backup/"}`)), []string{`want an S3 bucket ARN (arn:aws:s3:::my-bucket)`}},
		{"object ARN", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws-cn:s3:::my-bucket/backup"}`)), []string{`want an S3 bucket ARN (arn:aws-cn:s3:::my-bucket)`}},
		{"access point ARN", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:us-east-1:111122223333:accesspoint/ap"}`)),
			[]string{`rule "a": Destination.Bucket "arn:aws:s3:us-east-1:111122223333:accesspoint/ap": want an S3 bucket ARN (arn:aws:s3:::name)`}},
		{"unknown partition", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws-mars:s3:::b-1"}`)), []string{`rule "a": Destination.Bucket "arn:aws-mars:s3:::b-1"`}},
		{"empty bucket in ARN", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::"}`)), []string{`rule "a": Destination.Bucket "arn:aws:s3:::": want an S3 bucket ARN (arn:aws:s3:::name)`}},
		{"bad storage class", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "standard"}`)),
			[]string{`rule "a": Destination.StorageClass "standard": want one of STANDARD, REDUCED_REDUNDANCY`}},
		{"outposts storage class", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "OUTPOSTS"}`)), []string{`rule "a": Destination.StorageClass "OUTPOSTS"`}},
		{"KMS without a replica key", replConfig(v2Rule(`"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}}`)),
			[]string{`rule "a": SourceSelectionCriteria.SseKmsEncryptedObjects: Enabled needs Destination.EncryptionConfiguration.ReplicaKmsKeyID`}},
		{"KMS with a blank replica key", replConfig(v2Rule(`"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
			"Destination": {"Bucket": "arn:aws:s3:::dst", "EncryptionConfiguration": {"ReplicaKmsKeyID": " "}}`)),
			[]string{`rule "a": SourceSelectionCriteria.SseKmsEncryptedObjects`}},
		{"owner override without Account", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "AccessControlTranslation": {"Owner": "Destination"}}`)),
			[]string{`rule "a": Destination.AccessControlTranslation: needs Destination.Account`}},
		{"owner other than Destination", replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::dst", "Account": "1", "AccessControlTranslation": {"Owner": "Source"}}`)),
			[]string{`rule "a": Destination.AccessControlTranslation.Owner "Source": want Destination`}},

		// Across rules.
		{"long ID", replConfig(v2Rule(`"ID": "` + strings.Repeat("i", 256) + `"`)), []string{"ID: 256 characters; S3 allows 255"}},
		{"duplicate IDs", replConfig(v2Rule(""), v2Rule(`"Priority": 2`)), []string{`rule "a": ID: also the ID of rule 1; S3 requires unique IDs`}},
		{"duplicate priorities", replConfig(v2Rule(""), strings.Replace(v2Rule(`"Status": "Disabled"`), `"a"`, `"b"`, 1)),
			[]string{`rule "b": Priority 1: also the priority of rule "a"; S3 requires distinct priorities`}},
		{"V1 with two destinations", replConfig(v1Rule(""), `{"ID": "b", "Status": "Enabled", "Prefix": "q/", "Destination": {"Bucket": "arn:aws:s3:::other"}}`),
			[]string{`rule "b": Destination.Bucket "other": rule "a" replicates to "dst", and a V1 configuration has one destination`}},
		{"V1 overlapping prefixes", replConfig(v1Rule(""), `{"ID": "b", "Status": "Disabled", "Prefix": "p/2024/", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`),
			[]string{`rule "b": Prefix "p/2024/": overlaps the Prefix "p/" of rule "a"; V1 rules cannot overlap`}},
		{"V1 empty prefix overlaps all", replConfig(v1Rule(""), `{"Status": "Enabled", "Prefix": "", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`),
			[]string{`rule 2: Prefix "": overlaps the Prefix "p/" of rule "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseReplicationConfig(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseReplicationConfig() = %+v, nil; want an error containing %q", c, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseReplicationAccepts(t *testing.T) {
	for name, in := range map[string]string{
		"aws-cn partition":            replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws-cn:s3:::dst"}`)),
		"aws-us-gov partition":        replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws-us-gov:s3:::dst"}`)),
		"legacy bucket name":          replConfig(v2Rule(`"Destination": {"Bucket": "arn:aws:s3:::Legacy_Bucket"}`)),
		"empty Filter":                replConfig(v2Rule(`"Filter": {}`)),
		"empty Filter prefix":         replConfig(v2Rule(`"Filter": {"Prefix": ""}`)),
		"And with prefix and a tag":   replConfig(v2Rule(`"Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "k", "Value": ""}]}}`)),
		"And with two tags":           replConfig(v2Rule(`"Filter": {"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "j", "Value": "2"}]}}`)),
		"V1 without Prefix":           replConfig(`{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`),
		"V1 with KMS":                 replConfig(v1Rule(`"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}}, "Destination": {"Bucket": "arn:aws:s3:::dst", "EncryptionConfiguration": {"ReplicaKmsKeyID": "k"}}`)),
		"V1 sibling prefixes":         replConfig(v1Rule(""), `{"ID": "b", "Status": "Enabled", "Prefix": "q/", "Destination": {"Bucket": "arn:aws:s3:::dst"}}`),
		"V2 overlapping prefixes":     replConfig(v2Rule(""), `{"ID": "b", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "p/x"}, "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst"}}`),
		"V2 two destinations":         replConfig(v2Rule(""), `{"ID": "b", "Priority": 2, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst2"}}`),
		"unnamed rules":               replConfig(`{"Priority": 1, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst1"}}`, `{"Priority": 2, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst2"}}`),
		"null optional fields":        replConfig(v2Rule(`"SourceSelectionCriteria": null, "ExistingObjectReplication": null`)),
		"every replica storage class": replConfig(storageClassRules()...),
		"no Role":                     `{"Rules": [` + v2Rule("") + `]}`,
	} {
		if _, err := ParseReplicationConfig(strings.NewReader(in)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func storageClassRules() []string {
	var rs []string
	for i, sc := range replicaStorageClasses {
		rs = append(rs, fmt.Sprintf(`{"ID": "%d", "Priority": %d, "Status": "Enabled", "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
			"Destination": {"Bucket": "arn:aws:s3:::dst-%d", "StorageClass": %q}}`, i, i, i, sc))
	}
	return rs
}

// TestValidateModel covers configurations built in code, which can say
// what no JSON can.
func TestValidateModel(t *testing.T) {
	dest := ReplicationDestination{BucketARN: "arn:aws:s3:::dst", Bucket: "dst"}
	tests := []struct {
		name string
		c    *ReplicationConfig
		want string
	}{
		{"nil", nil, "no rules"},
		{"Bucket not from the ARN", &ReplicationConfig{Rules: []ReplicationRule{{ID: "a", HasPriority: true, Dest: ReplicationDestination{BucketARN: "arn:aws:s3:::dst", Bucket: "other"}}}},
			`rule "a": Destination: Bucket "other" is not the bucket of the ARN "arn:aws:s3:::dst"`},
		{"Bucket without ARN", &ReplicationConfig{Rules: []ReplicationRule{{HasPriority: true, Dest: ReplicationDestination{Bucket: "dst"}}}},
			`rule 1: Destination.Bucket "": want an S3 bucket ARN (arn:aws:s3:::name)`},
		{"V1 without delete markers", &ReplicationConfig{Rules: []ReplicationRule{{ID: "a", V1: true, Dest: dest}}},
			`rule "a": DeleteMarkerReplication: V1 rules always replicate delete markers`},
		{"V1 with tags", &ReplicationConfig{Rules: []ReplicationRule{{ID: "a", V1: true, DeleteMarkers: true, Tags: map[string]string{"k": "v"}, Dest: dest}}},
			`rule "a": Filter tags: need a V2 rule`},
		{"V1 with replica modifications", &ReplicationConfig{Rules: []ReplicationRule{{ID: "a", V1: true, DeleteMarkers: true, ReplicaModifications: true, Dest: dest}}},
			`rule "a": SourceSelectionCriteria.ReplicaModifications: needs a V2 rule`},
		{"valid", &ReplicationConfig{Rules: []ReplicationRule{{ID: "a", V1: true, DeleteMarkers: true, Dest: dest}}}, ""},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func mustParse(t *testing.T, in string) *ReplicationConfig {
	t.Helper()
	c, err := ParseReplicationConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// matched formats Match's result as "bucket<-ruleID".
func matched(rs []*ReplicationRule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Dest.Bucket+"<-"+r.ID)
	}
	return out
}

func TestReplicationMatch(t *testing.T) {
	v2 := func(id string, prio int, status, filter, bucket string) string {
		return fmt.Sprintf(`{"ID": %q, "Priority": %d, "Status": %q, "Filter": %s, "DeleteMarkerReplication": {"Status": "Disabled"},
			"Destination": {"Bucket": "arn:aws:s3:::%s"}}`, id, prio, status, filter, bucket)
	}
	archive := map[string]string{"class": "archive"}
	configs := map[string]string{
		// The S3 user guide's overlapping prefixes, both ways round.
		"starship-wins": replConfig(v2("star", 1, "Enabled", `{"Prefix": "star"}`, "aaa"), v2("starship", 2, "Enabled", `{"Prefix": "starship"}`, "aaa")),
		"star-wins":     replConfig(v2("star", 2, "Enabled", `{"Prefix": "star"}`, "aaa"), v2("starship", 1, "Enabled", `{"Prefix": "starship"}`, "aaa")),
		// A tag rule above a prefix rule for one bucket, a catch-all to
		// another, and a disabled rule above them all.
		"mixed": replConfig(
			v2("all-to-b", 0, "Enabled", `{}`, "bbb"),
			v2("logs", 1, "Enabled", `{"Prefix": "logs/"}`, "aaa"),
			v2("tagged", 5, "Enabled", `{"Tag": {"Key": "class", "Value": "archive"}}`, "aaa"),
			v2("logs-tagged", 3, "Enabled", `{"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "archive"}, {"Key": "team", "Value": "ops"}]}}`, "aaa"),
			v2("off", 9, "Disabled", `{}`, "aaa"),
			v2("off-c", 10, "Disabled", `{}`, "ccc"),
		),
		"v1": replConfig(
			`{"ID": "tax", "Status": "Enabled", "Prefix": "Tax/", "Destination": {"Bucket": "arn:aws:s3:::aaa"}}`,
			`{"ID": "docs", "Status": "Disabled", "Prefix": "docs/", "Destination": {"Bucket": "arn:aws:s3:::aaa"}}`,
		),
	}
	tests := []struct {
		config, key string
		tags        map[string]string
		want        []string
	}{
		{"starship-wins", "starship-x", nil, []string{"aaa<-starship"}},
		{"starship-wins", "star/x", nil, []string{"aaa<-star"}},
		{"starship-wins", "planet", nil, []string{}},
		{"star-wins", "starship-x", nil, []string{"aaa<-star"}},
		{"mixed", "logs/x", nil, []string{"aaa<-logs", "bbb<-all-to-b"}},
		{"mixed", "logs/x", archive, []string{"aaa<-tagged", "bbb<-all-to-b"}},
		{"mixed", "logs/x", map[string]string{"class": "archive", "team": "ops"}, []string{"aaa<-tagged", "bbb<-all-to-b"}},
		{"mixed", "other/x", map[string]string{"class": "Archive"}, []string{"bbb<-all-to-b"}}, // tag values are case-sensitive
		{"mixed", "other/x", map[string]string{"class": "archive", "extra": "1"}, []string{"aaa<-tagged", "bbb<-all-to-b"}},
		{"mixed", "", nil, []string{"bbb<-all-to-b"}},
		{"v1", "Tax/2024.pdf", nil, []string{"aaa<-tax"}},
		{"v1", "Taxes", nil, []string{}},
		{"v1", "docs/x", nil, []string{}},
	}
	for _, tt := range tests {
		c := mustParse(t, configs[tt.config])
		got := c.Match(tt.key, tt.tags)
		if !slices.Equal(matched(got), tt.want) {
			t.Errorf("%s: Match(%q, %v) = %v, want %v", tt.config, tt.key, tt.tags, matched(got), tt.want)
		}
		for _, r := range got {
			if ruleIndex(c, r) < 0 {
				t.Errorf("%s: Match returned a copy of rule %q, not the rule itself", tt.config, r.ID)
			}
		}
	}

	// Without Validate, overlapping V1 rules (which S3 refuses) resolve to
	// the first, not to both.
	dest := ReplicationDestination{BucketARN: "arn:aws:s3:::aaa", Bucket: "aaa"}
	c := &ReplicationConfig{Rules: []ReplicationRule{
		{ID: "first", V1: true, Enabled: true, DeleteMarkers: true, Prefix: "p", Dest: dest},
		{ID: "second", V1: true, Enabled: true, DeleteMarkers: true, Prefix: "p/q", Dest: dest},
	}}
	if got := matched(c.Match("p/q/r", nil)); !slices.Equal(got, []string{"aaa<-first"}) {
		t.Errorf("overlapping V1: Match = %v, want [aaa<-first]", got)
	}
}

// ruleIndex is the index of r in c.Rules, or -1 when r points elsewhere.
func ruleIndex(c *ReplicationConfig, r *ReplicationRule) int {
	for i := range c.Rules {
		if &c.Rules[i] == r {
			return i
		}
	}
	return -1
}

func TestReplicationNeedsTagsAndDestinations(t *testing.T) {
	tagRule := `{"ID": "t", "Priority": 2, "Status": "%s", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::zzz"}}`
	tests := []struct {
		in          string
		needsTags   bool
		destination []string
	}{
		{replConfig(v2Rule("")), false, []string{"dst"}},
		{replConfig(v2Rule(""), fmt.Sprintf(tagRule, "Enabled")), true, []string{"dst", "zzz"}},
		{replConfig(v2Rule(""), fmt.Sprintf(tagRule, "Disabled")), false, []string{"dst"}},
		{replConfig(v2Rule(`"Status": "Disabled", "Destination": {"Bucket": "arn:aws:s3:::qqq"}`), fmt.Sprintf(tagRule, "Enabled")), true, []string{"zzz"}},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.in)
		if got := c.NeedsTags(); got != tt.needsTags {
			t.Errorf("NeedsTags() = %v, want %v for %s", got, tt.needsTags, tt.in)
		}
		if got := c.Destinations(); !slices.Equal(got, tt.destination) {
			t.Errorf("Destinations() = %v, want %v for %s", got, tt.destination, tt.in)
		}
	}
}

func TestReplicationNotes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "replication", "multi-destination-tags.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, string(raw))
	want := []string{
		"Role arn:aws:iam::111122223333:role/replication is ignored: s3backfill copies with your own credentials, which need to read the source and write every destination.",
		`rule "everything-to-dr": ExistingObjectReplication is Enabled, so S3 may be replicating existing objects too; s3backfill copies them for every enabled rule whatever this setting says.`,
		`rule "everything-to-dr": Destination.ReplicationTime and Destination.Metrics (S3 Replication Time Control and replication metrics) do not apply to a backfill.`,
		`rule "archive-logs" filters on tags: each version's tags are read (one GetObjectTagging per version), and delete markers, which have none, are not replicated by it.`,
		`rule "archive-logs": AccessControlTranslation applies: its replicas give the destination bucket's owner full control (bucket-owner-full-control); Destination.Account is not checked: replicas are written with your credentials.`,
		`rule "archive-logs": ReplicaModifications (live sync of metadata changes made on replicas) does not apply to a backfill.`,
		`rule "archive-tagged" filters on tags: each version's tags are read (one GetObjectTagging per version), and delete markers, which have none, are not replicated by it.`,
		`rule "archive-tagged" names a ReplicaKmsKeyID but SseKmsEncryptedObjects is not Enabled, so its SSE-KMS and DSSE-KMS versions are skipped.`,
		`rule "old-tax" is Disabled: s3backfill skips it, as S3 does, and it shadows no other rule.`,
	}
	if got := c.Notes(); !slices.Equal(got, want) {
		t.Errorf("Notes() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 0; i < 3; i++ {
		if got := c.Notes(); !slices.Equal(got, want) {
			t.Fatal("Notes() is not deterministic")
		}
	}

	v1cfg := mustParse(t, replConfig(v1Rule("")))
	if got := v1cfg.Notes(); len(got) != 2 || !strings.HasPrefix(got[0], "Role r is ignored") || !strings.HasPrefix(got[1], `rule "a" is a V1 rule (no Filter): delete markers are replayed`) {
		t.Errorf("V1 Notes() = %q", got)
	}
	if got := RulesFromFlags("dst", "", false, "", false).Notes(); len(got) != 0 {
		t.Errorf("flags Notes() = %q, want none", got)
	}
}

// rulesFor is how a caller turns the rule Match chose into the planner's
// per-destination Rules.
func rulesFor(r *ReplicationRule, base Rules) Rules {
	base.ReplicateKMS, base.ReplicaKMSKeyID, base.DeleteMarkers = r.ReplicateKMS, r.Dest.ReplicaKMSKeyID, r.DeleteMarkers
	return base
}

func TestRulesFromFlagsIsTheSimpleFlags(t *testing.T) {
	const key = "arn:aws:kms:eu-west-1:1:key/replica"
	sources := []Source{
		{Version: Version{Key: "photos/a.jpg", VersionID: "v1", Size: 10}, Inspection: Inspection{Encryption: NotSSE}},
		{Version: Version{Key: "photos/a.jpg", VersionID: "v2", Size: 10}, Inspection: Inspection{Encryption: SSEKMS, KMSKeyID: "arn:src"}},
		{Version: Version{Key: "photos/a.jpg", VersionID: "v3", Size: 10}, Inspection: Inspection{Encryption: DSSEKMS}},
		{Version: Version{Key: "photos/a.jpg", VersionID: "dm", DeleteMarker: true}},
		{Version: Version{Key: "photos/big.bin", VersionID: "v1", Size: 100 * mib}, Inspection: Inspection{Encryption: SSES3}},
	}
	for _, prefix := range []string{"", "photos/", "other/"} {
		for _, kms := range []bool{false, true} {
			for _, keyID := range []string{"", key} {
				for _, dm := range []bool{false, true} {
					flags := Rules{ReplicateKMS: kms, ReplicaKMSKeyID: keyID, DeleteMarkers: dm, MultipartThreshold: 8 * mib, SourcePrefix: prefix}
					c := RulesFromFlags("dst-bucket", prefix, kms, keyID, dm)
					name := fmt.Sprintf("prefix=%q kms=%v key=%q dm=%v", prefix, kms, keyID, dm)

					if (c.Validate() == nil) != (flags.Validate() == nil) {
						t.Errorf("%s: config Validate() = %v, flags Validate() = %v", name, c.Validate(), flags.Validate())
					}
					if got := c.Destinations(); !slices.Equal(got, []string{"dst-bucket"}) || c.NeedsTags() {
						t.Errorf("%s: Destinations() = %v, NeedsTags() = %v", name, got, c.NeedsTags())
					}
					for _, src := range sources {
						m := c.Match(src.Key, nil)
						if want := strings.HasPrefix(src.Key, prefix); (len(m) == 1) != want {
							t.Errorf("%s: Match(%q) = %v, want a match: %v", name, src.Key, matched(m), want)
							continue
						}
						if len(m) == 0 {
							continue
						}
						if got, want := Decide(src, rulesFor(m[0], flags), nil), Decide(src, flags, nil); got != want {
							t.Errorf("%s: %s@%s decides %+v from the config, %+v from the flags", name, src.Key, src.VersionID, got, want)
						}
					}
				}
			}
		}
	}

	// The same rule written as JSON parses to the same model.
	c := mustParse(t, `{"Rules": [{"ID": "s3backfill", "Priority": 0, "Status": "Enabled", "Filter": {"Prefix": "photos/"},
		"DeleteMarkerReplication": {"Status": "Enabled"},
		"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
		"Destination": {"Bucket": "arn:aws:s3:::dst-bucket", "EncryptionConfiguration": {"ReplicaKmsKeyID": "`+key+`"}}}]}`)
	if want := RulesFromFlags("dst-bucket", "photos/", true, key, true); !reflect.DeepEqual(c, want) {
		t.Errorf("JSON form:\n got %+v\nwant %+v", c, want)
	}
}
