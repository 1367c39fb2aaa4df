package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// ReplicationConfig is a bucket replication configuration, as
// `aws s3api put-bucket-replication --replication-configuration` takes it
// (JSON) and GetBucketReplication returns it.
type ReplicationConfig struct {
	Role  string // ignored by s3backfill (it copies with the caller's credentials)
	Rules []ReplicationRule
}

// ReplicationRule is one rule of a ReplicationConfig.
type ReplicationRule struct {
	ID          string
	Priority    int // meaningful only when HasPriority
	HasPriority bool
	Enabled     bool // Status == "Enabled"
	// V1: a legacy rule, with a rule-level Prefix (or nothing) and no
	// Filter. S3 treats the whole configuration as V1 then.
	V1     bool
	Prefix string            // Filter.Prefix, Filter.And.Prefix, or the legacy rule-level Prefix
	Tags   map[string]string // Filter.Tag or Filter.And.Tags: all must match
	// DeleteMarkers: DeleteMarkerReplication.Status == Enabled in a V2 rule.
	// Always true in a V1 rule: S3 replicates the delete markers of V1 rules
	// (those a user's DELETE made; a backfill cannot tell lifecycle-made ones
	// apart, so it replays them all).
	DeleteMarkers        bool
	ReplicateKMS         bool // SourceSelectionCriteria.SseKmsEncryptedObjects.Status == Enabled
	ReplicaModifications bool // SourceSelectionCriteria.ReplicaModifications.Status == Enabled (informational)
	// ExistingObjects: ExistingObjectReplication.Status == Enabled. It is
	// informational: s3backfill copies existing objects for every enabled
	// rule, as S3 Batch Replication does; running it is the request to.
	ExistingObjects bool
	Dest            ReplicationDestination

	// notApplied lists elements that were accepted but do nothing in a
	// backfill (S3 RTC, replication metrics), for Notes.
	notApplied []string
}

// ReplicationDestination is where a rule sends replicas.
type ReplicationDestination struct {
	BucketARN       string // as given: arn:aws:s3:::name (or the aws-cn / aws-us-gov partition)
	Bucket          string // the name from the ARN
	StorageClass    string // "" = keep the source's class
	ReplicaKMSKeyID string // EncryptionConfiguration.ReplicaKmsKeyID
	Account         string
	OwnerOverride   bool // AccessControlTranslation.Owner == "Destination"
}

// The JSON shape of a configuration, as the AWS CLI takes and prints it.
// Go field names are the JSON names, matched exactly (the CLI is
// case-sensitive, encoding/json is not: checkFields closes that gap).
// Pointers tell an absent element from an empty one.
type (
	rawRule struct {
		ID                        *string
		Priority                  *int
		Status                    *string
		Prefix                    *string
		Filter                    *rawFilter
		DeleteMarkerReplication   *rawStatus
		SourceSelectionCriteria   *rawSelection
		ExistingObjectReplication *rawStatus
		Destination               *rawDestination
	}
	rawStatus struct{ Status *string }
	rawFilter struct {
		Prefix *string
		Tag    *rawTag
		And    *rawAnd
	}
	rawTag struct{ Key, Value *string }
	rawAnd struct {
		Prefix *string
		Tags   []rawTag
	}
	rawSelection   struct{ SseKmsEncryptedObjects, ReplicaModifications *rawStatus }
	rawDestination struct {
		Bucket                   *string
		Account                  *string
		StorageClass             *string
		AccessControlTranslation *struct{ Owner *string }
		EncryptionConfiguration  *struct{ ReplicaKmsKeyID *string }
		ReplicationTime          *struct {
			Status *string
			Time   *rawMinutes
		}
		Metrics *struct {
			Status         *string
			EventThreshold *rawMinutes
		}
	}
	rawMinutes struct{ Minutes *int }
)

// ParseReplicationConfig reads the JSON. It accepts both the bare
// configuration {"Role":..., "Rules":[...]} and the wrapped form
// {"ReplicationConfiguration": {...}} that `aws s3api get-bucket-replication`
// prints.
//
// It rejects what the model cannot hold (unknown or misspelt fields, wrong
// types, a Status other than Enabled/Disabled, a Filter with more than one
// of Prefix/Tag/And, an element S3 requires or forbids in the rule's schema
// version) and then runs Validate: a nil error means the configuration is
// usable. Errors name the rule (by ID, or "rule N") and the field.
func ParseReplicationConfig(r io.Reader) (*ReplicationConfig, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	if inner, ok := top["ReplicationConfiguration"]; ok {
		if len(top) > 1 {
			return nil, fmt.Errorf("unknown top-level field %q next to ReplicationConfiguration", otherKey(top, "ReplicationConfiguration"))
		}
		top = nil
		if err := json.Unmarshal(inner, &top); err != nil {
			return nil, fmt.Errorf("ReplicationConfiguration is not a JSON object: %s", jsonProblem(err))
		}
	}
	if k := otherKey(top, "Role", "Rules"); k != "" {
		return nil, fmt.Errorf("unknown top-level field %q (fields: Role, Rules)", k)
	}
	c := &ReplicationConfig{}
	if raw, ok := top["Role"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c.Role); err != nil {
			return nil, errors.New("Role: want a string")
		}
	}
	var rules []json.RawMessage
	if raw, ok := top["Rules"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &rules); err != nil {
			return nil, errors.New("Rules: want an array of rules")
		}
	}
	for i, raw := range rules {
		rule, err := parseRule(i, raw)
		if err != nil {
			return nil, err
		}
		c.Rules = append(c.Rules, rule)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseRule decodes and shape-checks one rule; i is its index.
func parseRule(i int, raw json.RawMessage) (ReplicationRule, error) {
	var lenient struct{ ID string }
	_ = json.Unmarshal(raw, &lenient) // to name the rule in errors
	name := ruleName(i, lenient.ID)
	fail := func(format string, args ...any) (ReplicationRule, error) {
		return ReplicationRule{}, fmt.Errorf("%s: "+format, append([]any{name}, args...)...)
	}

	if err := checkFields(raw, reflect.TypeFor[rawRule](), ""); err != nil {
		return fail("%s", err)
	}
	var rr rawRule
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rr); err != nil {
		return fail("%s", jsonProblem(err))
	}

	rule := ReplicationRule{ID: strValue(rr.ID), V1: rr.Filter == nil}
	var err error
	if rule.Enabled, err = parseStatus("Status", rr.Status); err != nil {
		return fail("%s", err)
	}
	if rr.Priority != nil {
		rule.Priority, rule.HasPriority = *rr.Priority, true
	}

	if rule.V1 {
		// V1 rules know only Prefix; "no Prefix" is every key, as in the
		// S3 user guide's minimal example.
		rule.Prefix = strValue(rr.Prefix)
		v2Only := map[string]bool{
			"DeleteMarkerReplication":                      rr.DeleteMarkerReplication != nil,
			"SourceSelectionCriteria.ReplicaModifications": rr.SourceSelectionCriteria != nil && rr.SourceSelectionCriteria.ReplicaModifications != nil,
			"Destination.ReplicationTime":                  rr.Destination != nil && rr.Destination.ReplicationTime != nil,
			"Destination.Metrics":                          rr.Destination != nil && rr.Destination.Metrics != nil,
		}
		for _, field := range slices.Sorted(maps.Keys(v2Only)) {
			if v2Only[field] {
				return fail("%s: needs a V2 rule, one with a Filter (\"Filter\": {} for every key); "+
					"this rule has no Filter, so S3 reads it as V1, where delete markers always replicate", field)
			}
		}
		rule.DeleteMarkers = true
	} else {
		if rr.Prefix != nil {
			return fail("Prefix and Filter: use one; a rule with a Filter (V2) takes its prefix in Filter.Prefix")
		}
		if rule.Prefix, rule.Tags, err = parseFilter(rr.Filter); err != nil {
			return fail("%s", err)
		}
		if rr.DeleteMarkerReplication == nil {
			return fail("DeleteMarkerReplication: missing; S3 requires it in a rule with a Filter (V2): " +
				`{"Status": "Enabled"} or {"Status": "Disabled"}`)
		}
		if rule.DeleteMarkers, err = parseStatus("DeleteMarkerReplication.Status", rr.DeleteMarkerReplication.Status); err != nil {
			return fail("%s", err)
		}
	}

	if s := rr.SourceSelectionCriteria; s != nil {
		if s.SseKmsEncryptedObjects != nil {
			if rule.ReplicateKMS, err = parseStatus("SourceSelectionCriteria.SseKmsEncryptedObjects.Status", s.SseKmsEncryptedObjects.Status); err != nil {
				return fail("%s", err)
			}
		}
		if s.ReplicaModifications != nil {
			if rule.ReplicaModifications, err = parseStatus("SourceSelectionCriteria.ReplicaModifications.Status", s.ReplicaModifications.Status); err != nil {
				return fail("%s", err)
			}
		}
	}
	if e := rr.ExistingObjectReplication; e != nil {
		if rule.ExistingObjects, err = parseStatus("ExistingObjectReplication.Status", e.Status); err != nil {
			return fail("%s", err)
		}
	}

	d := rr.Destination
	if d == nil {
		return fail("Destination: missing; want {\"Bucket\": \"arn:aws:s3:::name\"}")
	}
	if d.Bucket == nil {
		return fail("Destination.Bucket: missing; want an S3 bucket ARN (arn:aws:s3:::name)")
	}
	rule.Dest = ReplicationDestination{
		BucketARN:    *d.Bucket,
		StorageClass: strValue(d.StorageClass),
		Account:      strValue(d.Account),
	}
	rule.Dest.Bucket, _ = bucketFromARN(*d.Bucket) // Validate reports a bad ARN
	if e := d.EncryptionConfiguration; e != nil {
		rule.Dest.ReplicaKMSKeyID = strValue(e.ReplicaKmsKeyID)
	}
	if a := d.AccessControlTranslation; a != nil {
		if strValue(a.Owner) != "Destination" {
			return fail("Destination.AccessControlTranslation.Owner %q: want Destination (the only owner override S3 has)", strValue(a.Owner))
		}
		rule.Dest.OwnerOverride = true
	}
	if t := d.ReplicationTime; t != nil {
		if _, err := parseStatus("Destination.ReplicationTime.Status", t.Status); err != nil {
			return fail("%s", err)
		}
		rule.notApplied = append(rule.notApplied, "Destination.ReplicationTime")
	}
	if m := d.Metrics; m != nil {
		if _, err := parseStatus("Destination.Metrics.Status", m.Status); err != nil {
			return fail("%s", err)
		}
		rule.notApplied = append(rule.notApplied, "Destination.Metrics")
	}
	return rule, nil
}

// parseFilter reads a V2 Filter: exactly one of Prefix, Tag and And, or none
// (every key).
func parseFilter(f *rawFilter) (prefix string, tags map[string]string, err error) {
	var set []string
	for _, e := range []struct {
		name string
		set  bool
	}{{"Prefix", f.Prefix != nil}, {"Tag", f.Tag != nil}, {"And", f.And != nil}} {
		if e.set {
			set = append(set, e.name)
		}
	}
	if len(set) > 1 {
		return "", nil, fmt.Errorf("Filter: has %s; a Filter takes exactly one of Prefix, Tag and And (And combines several conditions)", strings.Join(set, " and "))
	}
	addTag := func(field string, t rawTag) error {
		if t.Key == nil || t.Value == nil {
			return fmt.Errorf("%s: want {\"Key\": ..., \"Value\": ...}", field)
		}
		if _, dup := tags[*t.Key]; dup {
			return fmt.Errorf("%s: tag key %q appears twice", field, *t.Key)
		}
		tags[*t.Key] = *t.Value
		return nil
	}
	switch {
	case f.Prefix != nil:
		return *f.Prefix, nil, nil
	case f.Tag != nil:
		tags = map[string]string{}
		return "", tags, addTag("Filter.Tag", *f.Tag)
	case f.And != nil:
		// And exists to combine conditions: a prefix with tags, or tags.
		conds := len(f.And.Tags)
		if f.And.Prefix != nil {
			conds++
		}
		if conds < 2 || len(f.And.Tags) == 0 {
			return "", nil, fmt.Errorf("Filter.And: has %d condition(s) and %d tag(s); And combines a Prefix with tags, or several tags "+
				"(for one condition use Filter.Prefix or Filter.Tag)", conds, len(f.And.Tags))
		}
		tags = map[string]string{}
		for i, t := range f.And.Tags {
			if err := addTag(fmt.Sprintf("Filter.And.Tags[%d]", i), t); err != nil {
				return "", nil, err
			}
		}
		return strValue(f.And.Prefix), tags, nil
	}
	return "", nil, nil
}

// parseStatus reads a required Enabled/Disabled element.
func parseStatus(field string, s *string) (bool, error) {
	switch {
	case s == nil:
		return false, fmt.Errorf("%s: missing; want Enabled or Disabled", field)
	case *s == "Enabled":
		return true, nil
	case *s == "Disabled":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want Enabled or Disabled", field, *s)
}

// checkFields reports the first JSON key in raw that t has no field for,
// with its path; keys are compared exactly, as the AWS CLI does. Type
// errors are left to the decoder.
func checkFields(raw json.RawMessage, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		var names []string
		for f := range t.Fields() {
			names = append(names, f.Name)
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			f, ok := t.FieldByName(k)
			if !ok || !f.IsExported() {
				hint := ""
				if i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, k) }); i >= 0 {
					hint = fmt.Sprintf(" (did you mean %q?)", names[i])
				}
				return fmt.Errorf("unknown field %q%s (fields here: %s)", path+k, hint, strings.Join(names, ", "))
			}
			if err := checkFields(obj[k], f.Type, path+k+"."); err != nil {
				return err
			}
		}
	case reflect.Slice:
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		for i, e := range elems {
			if err := checkFields(e, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Int: "an integer",
			reflect.Struct: "an object", reflect.Slice: "an array", reflect.Map: "an object"}[typ.Type.Kind()]
		if want == "" {
			want = typ.Type.String()
		}
		if typ.Field == "" {
			return fmt.Sprintf("got a JSON %s, want %s", typ.Value, want)
		}
		return fmt.Sprintf("%s: got a JSON %s, want %s", typ.Field, typ.Value, want)
	case errors.Is(err, io.EOF):
		return "the input is empty"
	}
	return err.Error()
}

// arnPartitions are the AWS partitions a destination bucket ARN may name.
var arnPartitions = []string{"aws", "aws-cn", "aws-us-gov"}

// bucketFromARN returns the bucket name of an S3 bucket ARN.
func bucketFromARN(arn string) (string, bool) {
	for _, partition := range arnPartitions {
		if name, ok := strings.CutPrefix(arn, "arn:"+partition+":s3:::"); ok {
			return name, validBucketName(name)
		}
	}
	return "", false
}

// validBucketName accepts S3 bucket names, including legacy ones with
// capitals and underscores; it rejects anything with a path or a scheme.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ruleName names a rule in messages: by ID, or by 1-based position.
func ruleName(i int, id string) string {
	if id != "" {
		return fmt.Sprintf("rule %q", id)
	}
	return fmt.Sprintf("rule %d", i+1)
}

func (r *ReplicationRule) name(i int) string { return ruleName(i, r.ID) }

func strValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// otherKey returns a key of m not among known (the smallest, for
// deterministic messages), or "".
func otherKey[V any](m map[string]V, known ...string) string {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			return k
		}
	}
	return ""
}
