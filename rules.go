package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// jobRules are a job's replication rules: a replication configuration
// (--replication-config, --replication-config-from-source), or the one
// rule the simple flags make. Only the simple form maps keys from a
// source prefix to a destination prefix; a configuration keeps keys as
// they are, as S3 replication does.
type jobRules struct {
	cfg                   *planner.ReplicationConfig
	srcPrefix, destPrefix string
	threshold             int64
	cutAtPartSize         bool
}

// loadRules builds the job's rules from its settings; with
// --replication-config-from-source it reads the source bucket's
// configuration now.
func (j *job) loadRules(ctx context.Context) (jobRules, error) {
	s := j.settings
	src, _ := parseS3URL("source", s.Source)
	jr := jobRules{threshold: s.MultipartThreshold, cutAtPartSize: s.PartLayout == "size"}
	switch {
	case s.ReplicationConfigFromSource:
		cfg, err := inventory.ReadReplicationConfig(ctx, j.clients.src, src.Bucket)
		if err != nil {
			if code, status, _ := executor.Classify(err); status == 404 && code == "NoSuchBucket" {
				return jobRules{}, fmt.Errorf("--replication-config-from-source: source bucket %q does not exist (check the bucket name and the endpoint)", src.Bucket)
			}
			return jobRules{}, err
		}
		jr.cfg = cfg
	case s.ReplicationConfig != "":
		cfg, err := planner.ParseReplicationConfig(strings.NewReader(s.ReplicationConfig))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			return jobRules{}, usageError{fmt.Errorf("--replication-config: %w", err)}
		}
		jr.cfg = cfg
	default:
		dst, _ := parseS3URL("dest", s.Dest)
		jr.cfg = planner.RulesFromFlags(dst.Bucket, src.Prefix, s.ReplicateKMS, s.ReplicaKMSKeyID, s.DeleteMarkers)
		jr.srcPrefix, jr.destPrefix = src.Prefix, dst.Prefix
	}
	if len(jr.cfg.Destinations()) == 0 {
		return jobRules{}, usagef("the replication configuration has no enabled rule: nothing to replicate")
	}
	return jr, nil
}

// targets are the destination buckets.
func (jr jobRules) targets() []string { return jr.cfg.Destinations() }

// forRow is the planner's view of the rule that replicates key (with these
// tags) to dest; ok is false when no enabled rule does.
func (jr jobRules) forRow(key, dest string, tags map[string]string) (rules planner.Rules, ok bool) {
	for _, r := range jr.cfg.Match(key, tags) {
		if r.Dest.Bucket != dest {
			continue
		}
		return planner.Rules{
			ReplicateKMS:       r.ReplicateKMS,
			ReplicaKMSKeyID:    r.Dest.ReplicaKMSKeyID,
			DeleteMarkers:      r.DeleteMarkers,
			MultipartThreshold: jr.threshold,
			SourcePrefix:       jr.srcPrefix,
			DestPrefix:         jr.destPrefix,
			RuleID:             r.ID,
			StorageClass:       r.Dest.StorageClass,
			CutAtPartSize:      jr.cutAtPartSize,
		}, true
	}
	return planner.Rules{}, false
}

// kmsKeys are the replica KMS keys the enabled rules name, by destination.
func (jr jobRules) kmsKeys() map[string][]string {
	out := map[string][]string{}
	for _, r := range jr.cfg.Rules {
		if !r.Enabled || !r.ReplicateKMS || r.Dest.ReplicaKMSKeyID == "" {
			continue
		}
		keys := out[r.Dest.Bucket]
		dup := false
		for _, k := range keys {
			dup = dup || k == r.Dest.ReplicaKMSKeyID
		}
		if !dup {
			out[r.Dest.Bucket] = append(keys, r.Dest.ReplicaKMSKeyID)
		}
	}
	return out
}
