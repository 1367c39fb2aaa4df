package job

import (
	"context"
	"fmt"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// rules are a job's replication rules: a replication configuration
// (--replication-config, --replication-config-from-source), or the one
// rule the simple flags make. Only the simple form maps keys from a
// source prefix to a destination prefix; a configuration keeps keys as
// they are, as S3 replication does.
type rules struct {
	cfg                   *planner.ReplicationConfig
	srcPrefix, destPrefix string
	threshold             int64
	cutAtPartSize         bool
}

// loadRules builds the job's rules from its settings; with
// --replication-config-from-source it reads the source bucket's
// configuration now.
func loadRules(ctx context.Context, s Settings, src inventory.ReplicationGetter) (rules, error) {
	r := rules{threshold: s.Spec.MultipartThreshold, cutAtPartSize: s.cutAtPartSize()}
	switch {
	case s.Spec.ReplicationConfigFromSource:
		cfg, err := inventory.ReadReplicationConfig(ctx, src, s.Source.Bucket)
		if err != nil {
			if code, status, _ := s3err.Classify(err); status == 404 && code == "NoSuchBucket" {
				return rules{}, fmt.Errorf("--replication-config-from-source: source bucket %q does not exist (check the bucket name and the endpoint)", s.Source.Bucket)
			}
			return rules{}, err
		}
		r.cfg = cfg
	case s.Replication != nil:
		r.cfg = s.Replication
	default:
		r.cfg = planner.RulesFromFlags(s.Dest.Bucket, s.Source.Prefix, s.Spec.ReplicateKMS, s.Spec.ReplicaKMSKeyID, s.Spec.DeleteMarkers)
		r.srcPrefix, r.destPrefix = s.Source.Prefix, s.Dest.Prefix
	}
	if len(r.cfg.Destinations()) == 0 {
		return rules{}, Usagef("the replication configuration has no enabled rule: nothing to replicate")
	}
	return r, nil
}

// targets are the destination buckets.
func (r rules) targets() []string { return r.cfg.Destinations() }

// forDest is the planner's view of the rule that replicates key (with
// these tags) to dest; ok is false when no enabled rule does.
func (r rules) forDest(key, dest string, tags map[string]string) (planner.Rules, bool) {
	for _, rule := range r.cfg.Match(key, tags) {
		if rule.Dest.Bucket != dest {
			continue
		}
		return planner.Rules{
			ReplicateKMS:       rule.ReplicateKMS,
			ReplicaKMSKeyID:    rule.Dest.ReplicaKMSKeyID,
			DeleteMarkers:      rule.DeleteMarkers,
			MultipartThreshold: r.threshold,
			SourcePrefix:       r.srcPrefix,
			DestPrefix:         r.destPrefix,
			RuleID:             rule.ID,
			StorageClass:       rule.Dest.StorageClass,
			CutAtPartSize:      r.cutAtPartSize,
		}, true
	}
	return planner.Rules{}, false
}

// kmsKeys are the replica KMS keys the enabled rules name, by destination.
func (r rules) kmsKeys() map[string][]string {
	out := map[string][]string{}
	for _, rule := range r.cfg.Rules {
		if !rule.Enabled || !rule.ReplicateKMS || rule.Dest.ReplicaKMSKeyID == "" {
			continue
		}
		keys := out[rule.Dest.Bucket]
		dup := false
		for _, k := range keys {
			dup = dup || k == rule.Dest.ReplicaKMSKeyID
		}
		if !dup {
			out[rule.Dest.Bucket] = append(keys, rule.Dest.ReplicaKMSKeyID)
		}
	}
	return out
}
