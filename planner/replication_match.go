package planner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// replicaStorageClasses are the classes a replication rule can store
// replicas in (Destination.StorageClass). OUTPOSTS is left out: replication
// to S3 on Outposts is configured through S3 Control, with access point
// ARNs, not with this configuration.
var replicaStorageClasses = []string{
	"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
	"INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE",
}

// Limits PutBucketReplication enforces.
const (
	maxReplicationRules = 1000
	maxRuleIDLen        = 255
	maxRulePrefixLen    = 1024 // the longest key
	maxTagKeyLen        = 128
	maxTagValueLen      = 256
)

// Validate reports the first problem with an error that names the rule (by
// ID, or "rule N" when it has none) and the field, e.g.
//
//	rule "archive": Destination.Bucket "my-bucket": want an S3 bucket ARN (arn:aws:s3:::my-bucket)
//
// It checks what PutBucketReplication would reject, rule by rule in order:
// the destination ARN, storage class, limits, the elements each schema
// version requires or forbids (a V2 rule needs a Priority, a V1 rule takes
// none and no tags), delete marker replication with a tag filter, KMS
// replication without a ReplicaKmsKeyID, an owner override without an
// Account; and against earlier rules: duplicate IDs, V1 mixed with V2,
// duplicate V2 priorities, V1 rules with overlapping prefixes or different
// destinations. What the model cannot hold (unknown fields, a bad Status, a
// Filter with more than one of Prefix/Tag/And) ParseReplicationConfig
// rejects before.
func (c *ReplicationConfig) Validate() error {
	if c == nil || len(c.Rules) == 0 {
		return errors.New("no rules: a replication configuration needs at least one")
	}
	if len(c.Rules) > maxReplicationRules {
		return fmt.Errorf("%d rules; S3 allows %d", len(c.Rules), maxReplicationRules)
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.validate(); err != nil {
			return fmt.Errorf("%s: %w", r.name(i), err)
		}
		for j := range i {
			if err := r.conflict(&c.Rules[j], j); err != nil {
				return fmt.Errorf("%s: %w", r.name(i), err)
			}
		}
	}
	return nil
}

// validate checks one rule on its own.
func (r *ReplicationRule) validate() error {
	if len(r.ID) > maxRuleIDLen {
		return fmt.Errorf("ID: %d characters; S3 allows %d", len(r.ID), maxRuleIDLen)
	}
	name, ok := bucketFromARN(r.Dest.BucketARN)
	if !ok {
		return fmt.Errorf("Destination.Bucket %q: want an S3 bucket ARN (%s)", r.Dest.BucketARN, suggestARN(r.Dest.BucketARN))
	}
	if r.Dest.Bucket != name {
		return fmt.Errorf("Destination: Bucket %q is not the bucket of the ARN %q", r.Dest.Bucket, r.Dest.BucketARN)
	}
	if sc := r.Dest.StorageClass; sc != "" && !slices.Contains(replicaStorageClasses, sc) {
		return fmt.Errorf("Destination.StorageClass %q: want one of %s (or none, to keep the source's class)", sc, strings.Join(replicaStorageClasses, ", "))
	}
	if len(r.Prefix) > maxRulePrefixLen {
		return fmt.Errorf("Prefix: %d bytes; S3 allows %d", len(r.Prefix), maxRulePrefixLen)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
		switch v := r.Tags[k]; {
		case k == "":
			return errors.New("Filter tag: empty Key")
		case len(k) > maxTagKeyLen:
			return fmt.Errorf("Filter tag %q: key of %d characters; S3 allows %d", k, len(k), maxTagKeyLen)
		case len(v) > maxTagValueLen:
			return fmt.Errorf("Filter tag %q: value of %d characters; S3 allows %d", k, len(v), maxTagValueLen)
		}
	}
	if r.V1 {
		const v1 = "; this rule has no Filter, so S3 reads it as V1 (add \"Filter\": {} for every key)"
		switch {
		case r.HasPriority:
			return errors.New("Priority: needs a V2 rule, one with a Filter" + v1)
		case len(r.Tags) > 0:
			return errors.New("Filter tags: need a V2 rule, one with a Filter" + v1)
		case r.ReplicaModifications:
			return errors.New("SourceSelectionCriteria.ReplicaModifications: needs a V2 rule, one with a Filter" + v1)
		case !r.DeleteMarkers:
			return errors.New("DeleteMarkerReplication: V1 rules always replicate delete markers; turning that off needs a V2 rule, one with a Filter" + v1)
		}
	} else if !r.HasPriority {
		return errors.New("Priority: missing; S3 requires it in a rule with a Filter (V2); the highest number wins where rules overlap")
	}
	if r.DeleteMarkers && len(r.Tags) > 0 {
		return errors.New("DeleteMarkerReplication: Enabled is not allowed with a tag filter; S3 does not replicate delete markers for tag-based rules")
	}
	if r.ReplicateKMS && strings.TrimSpace(r.Dest.ReplicaKMSKeyID) == "" {
		return errors.New("SourceSelectionCriteria.SseKmsEncryptedObjects: Enabled needs Destination.EncryptionConfiguration.ReplicaKmsKeyID, " +
			"the key S3 replication encrypts KMS replicas with")
	}
	if r.Dest.OwnerOverride && r.Dest.Account == "" {
		return errors.New("Destination.AccessControlTranslation: needs Destination.Account, the destination bucket owner's account ID")
	}
	return nil
}

// conflict checks r against an earlier rule o, the (j+1)th.
func (r *ReplicationRule) conflict(o *ReplicationRule, j int) error {
	other := o.name(j)
	switch {
	case r.ID != "" && r.ID == o.ID:
		return fmt.Errorf("ID: also the ID of rule %d; S3 requires unique IDs", j+1)
	case r.V1 && !o.V1:
		return fmt.Errorf("Filter: missing, so this is a V1 rule, but %s has a Filter (V2); S3 takes one schema per configuration: give every rule a Filter", other)
	case !r.V1 && o.V1:
		return fmt.Errorf("Filter: makes this a V2 rule, but %s has none (V1); S3 takes one schema per configuration: give every rule a Filter", other)
	case !r.V1 && r.HasPriority && o.HasPriority && r.Priority == o.Priority:
		return fmt.Errorf("Priority %d: also the priority of %s; S3 requires distinct priorities", r.Priority, other)
	case r.V1 && r.Dest.Bucket != o.Dest.Bucket:
		return fmt.Errorf("Destination.Bucket %q: %s replicates to %q, and a V1 configuration has one destination; use V2 rules (with Filter) for several",
			r.Dest.Bucket, other, o.Dest.Bucket)
	case r.V1 && (strings.HasPrefix(r.Prefix, o.Prefix) || strings.HasPrefix(o.Prefix, r.Prefix)):
		return fmt.Errorf("Prefix %q: overlaps the Prefix %q of %s; V1 rules cannot overlap (V2 rules, with Filter and Priority, can)", r.Prefix, o.Prefix, other)
	}
	return nil
}

// suggestARN proposes the bucket ARN a user probably meant: for a bare
// name, an s3:// URL or an object ARN, the bucket's ARN.
func suggestARN(s string) string {
	partition, name := "aws", strings.TrimPrefix(s, "s3://")
	if strings.HasPrefix(s, "arn:") {
		name = ""
		// arn:PARTITION:s3:::bucket/key; access point ARNs have a region
		// and an account, and no bucket to suggest.
		if p := strings.SplitN(s, ":", 6); len(p) == 6 && p[2] == "s3" && p[3] == "" && p[4] == "" {
			if slices.Contains(arnPartitions, p[1]) {
				partition = p[1]
			}
			name = p[5]
		}
	}
	name, _, _ = strings.Cut(name, "/")
	if !validBucketName(name) {
		name = "name"
	}
	return "arn:" + partition + ":s3:::" + name
}

// Match returns the rules that replicate an object with this key and tags:
// among enabled rules whose filter matches, for each destination bucket the
// one with the highest priority (V2; ties are impossible after Validate).
// V1 rules cannot overlap, so at most one matches; in a configuration that
// was not validated the first in order wins a tie. The result is sorted by
// destination bucket name.
//
// Disabled rules never match and so never shadow a lower-priority rule.
// tags are the tags of the version at hand (nil when no rule NeedsTags);
// pass nil for a delete marker, which has none: tag rules never take one.
// Match looks at key and tags only: the chosen rule's ReplicateKMS and
// DeleteMarkers then decide what happens to KMS versions and delete markers.
func (c *ReplicationConfig) Match(key string, tags map[string]string) []*ReplicationRule {
	best := map[string]*ReplicationRule{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if !r.Enabled || !r.matches(key, tags) {
			continue
		}
		if b, ok := best[r.Dest.Bucket]; !ok || r.Priority > b.Priority {
			best[r.Dest.Bucket] = r
		}
	}
	out := make([]*ReplicationRule, 0, len(best))
	for _, b := range slices.Sorted(maps.Keys(best)) {
		out = append(out, best[b])
	}
	return out
}

// matches reports whether the rule's filter selects the object: the key
// starts with the prefix and every tag of the filter is on the object.
func (r *ReplicationRule) matches(key string, tags map[string]string) bool {
	if !strings.HasPrefix(key, r.Prefix) {
		return false
	}
	for k, v := range r.Tags {
		if got, ok := tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NeedsTags reports whether any enabled rule filters on tags (so the
// caller fetches GetObjectTagging only then).
func (c *ReplicationConfig) NeedsTags() bool {
	return slices.ContainsFunc(c.Rules, func(r ReplicationRule) bool { return r.Enabled && len(r.Tags) > 0 })
}

// Destinations lists the distinct destination buckets of enabled rules,
// sorted.
func (c *ReplicationConfig) Destinations() []string {
	var out []string
	for _, r := range c.Rules {
		if r.Enabled && !slices.Contains(out, r.Dest.Bucket) {
			out = append(out, r.Dest.Bucket)
		}
	}
	slices.Sort(out)
	return out
}

// Notes are things a user should hear about, one sentence each: the
// configuration's first, then each rule's in order.
func (c *ReplicationConfig) Notes() []string {
	var notes []string
	if c.Role != "" {
		notes = append(notes, fmt.Sprintf("Role %s is ignored: s3backfill copies with your own credentials, "+
			"which need to read the source and write every destination.", c.Role))
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		name := r.name(i)
		if !r.Enabled {
			notes = append(notes, fmt.Sprintf("%s is Disabled: s3backfill skips it, as S3 does, and it shadows no other rule.", name))
			continue
		}
		if r.V1 {
			notes = append(notes, fmt.Sprintf("%s is a V1 rule (no Filter): delete markers are replayed, as S3 replicates them for V1 rules; "+
				"S3 would leave out those a lifecycle expiration made, which a backfill cannot tell apart.", name))
		}
		if len(r.Tags) > 0 {
			notes = append(notes, fmt.Sprintf("%s filters on tags: each version's tags are read (one GetObjectTagging per version), "+
				"and delete markers, which have none, are not replicated by it.", name))
		}
		if !r.ReplicateKMS && r.Dest.ReplicaKMSKeyID != "" {
			notes = append(notes, fmt.Sprintf("%s names a ReplicaKmsKeyID but SseKmsEncryptedObjects is not Enabled, "+
				"so its SSE-KMS and DSSE-KMS versions are skipped.", name))
		}
		if r.Dest.OwnerOverride {
			notes = append(notes, fmt.Sprintf("%s: AccessControlTranslation applies: its replicas give the destination bucket's owner "+
				"full control (bucket-owner-full-control); Destination.Account is not checked: replicas are written with your credentials.", name))
		} else if r.Dest.Account != "" {
			notes = append(notes, fmt.Sprintf("%s: Destination.Account is not checked: replicas are written with your credentials and "+
				"owned as the destination bucket's Object Ownership setting decides.", name))
		}
		if r.ReplicaModifications {
			notes = append(notes, fmt.Sprintf("%s: ReplicaModifications (live sync of metadata changes made on replicas) does not apply to a backfill.", name))
		}
		if r.ExistingObjects {
			notes = append(notes, fmt.Sprintf("%s: ExistingObjectReplication is Enabled, so S3 may be replicating existing objects too; "+
				"s3backfill copies them for every enabled rule whatever this setting says.", name))
		}
		if len(r.notApplied) > 0 {
			notes = append(notes, fmt.Sprintf("%s: %s (S3 Replication Time Control and replication metrics) do not apply to a backfill.",
				name, strings.Join(r.notApplied, " and ")))
		}
	}
	return notes
}

// RulesFromFlags builds the one-rule configuration equivalent to the
// simple command-line flags: every key under srcPrefix (as given; callers
// normalize it with NormalizePrefix), to destBucket, with the given KMS and
// delete-marker choices. The rule is V2, priority 0, ID "s3backfill". A
// destination prefix has no counterpart in S3 replication (replicas keep
// their keys): DestKey stays the caller's.
func RulesFromFlags(destBucket, srcPrefix string, replicateKMS bool, replicaKMSKeyID string, deleteMarkers bool) *ReplicationConfig {
	return &ReplicationConfig{Rules: []ReplicationRule{{
		ID:            "s3backfill",
		HasPriority:   true,
		Enabled:       true,
		Prefix:        srcPrefix,
		DeleteMarkers: deleteMarkers,
		ReplicateKMS:  replicateKMS,
		Dest: ReplicationDestination{
			BucketARN:       "arn:aws:s3:::" + destBucket,
			Bucket:          destBucket,
			ReplicaKMSKeyID: replicaKMSKeyID,
		},
	}}}
}
