package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3backfill/s3backfill/planner"
)

// ReplicationGetter is the one call ReadReplicationConfig makes.
type ReplicationGetter interface {
	GetBucketReplication(ctx context.Context, params *s3.GetBucketReplicationInput, optFns ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)
}

var _ ReplicationGetter = (*s3.Client)(nil)

// ReadReplicationConfig reads the source bucket's replication configuration
// and converts it to the planner's model, validated. A bucket without one
// gives an error that says so (S3 code ReplicationConfigurationNotFoundError)
// and what to do. Errors from S3 are wrapped, so callers can still inspect
// them with errors.As.
func ReadReplicationConfig(ctx context.Context, c ReplicationGetter, bucket string) (*planner.ReplicationConfig, error) {
	out, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ReplicationConfigurationNotFoundError":
		return nil, fmt.Errorf("bucket %s has no replication configuration (S3: %w); "+
			"give the destination and rules on the command line or in a configuration file instead, "+
			"or add one to the bucket with `aws s3api put-bucket-replication`", bucket, err)
	case err != nil:
		return nil, fmt.Errorf("get replication configuration of bucket %s: %w", bucket, err)
	case out == nil || out.ReplicationConfiguration == nil:
		return nil, fmt.Errorf("get replication configuration of bucket %s: S3 answered without a configuration", bucket)
	}
	// The SDK's types carry the same names as the CLI's JSON, so the
	// configuration goes through the parser a file goes through, and is
	// checked by the same rules.
	doc, err := json.Marshal(cliConfigOf(out.ReplicationConfiguration))
	if err != nil {
		return nil, fmt.Errorf("replication configuration of bucket %s: %w", bucket, err)
	}
	cfg, err := planner.ParseReplicationConfig(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("replication configuration of bucket %s: %w", bucket, err)
	}
	return cfg, nil
}

// The configuration as `aws s3api get-bucket-replication` prints it.
// Pointers with omitempty keep an absent element absent: the planner tells
// a V1 rule from a V2 one by whether Filter is there.
type (
	cliConfig struct {
		Role  string `json:",omitempty"`
		Rules []cliRule
	}
	cliRule struct {
		ID                        *string         `json:",omitempty"`
		Priority                  *int32          `json:",omitempty"`
		Status                    string          `json:",omitempty"`
		Prefix                    *string         `json:",omitempty"`
		Filter                    *cliFilter      `json:",omitempty"`
		DeleteMarkerReplication   *cliStatus      `json:",omitempty"`
		SourceSelectionCriteria   *cliSelection   `json:",omitempty"`
		ExistingObjectReplication *cliStatus      `json:",omitempty"`
		Destination               *cliDestination `json:",omitempty"`
	}
	cliStatus struct {
		Status string `json:",omitempty"`
	}
	cliTag    struct{ Key, Value *string }
	cliFilter struct {
		Prefix *string `json:",omitempty"`
		Tag    *cliTag `json:",omitempty"`
		And    *cliAnd `json:",omitempty"`
	}
	cliAnd struct {
		Prefix *string  `json:",omitempty"`
		Tags   []cliTag `json:",omitempty"`
	}
	cliSelection struct {
		SseKmsEncryptedObjects *cliStatus `json:",omitempty"`
		ReplicaModifications   *cliStatus `json:",omitempty"`
	}
	cliDestination struct {
		Bucket                   *string     `json:",omitempty"`
		Account                  *string     `json:",omitempty"`
		StorageClass             string      `json:",omitempty"`
		AccessControlTranslation *cliOwner   `json:",omitempty"`
		EncryptionConfiguration  *cliKMS     `json:",omitempty"`
		ReplicationTime          *cliRTC     `json:",omitempty"`
		Metrics                  *cliMetrics `json:",omitempty"`
	}
	cliOwner struct {
		Owner string `json:",omitempty"`
	}
	cliKMS struct {
		ReplicaKmsKeyID *string `json:",omitempty"`
	}
	cliMinutes struct {
		Minutes *int32 `json:",omitempty"`
	}
	cliRTC struct {
		Status string      `json:",omitempty"`
		Time   *cliMinutes `json:",omitempty"`
	}
	cliMetrics struct {
		Status         string      `json:",omitempty"`
		EventThreshold *cliMinutes `json:",omitempty"`
	}
)

func cliConfigOf(c *types.ReplicationConfiguration) cliConfig {
	out := cliConfig{Role: aws.ToString(c.Role), Rules: []cliRule{}}
	for _, r := range c.Rules {
		rule := cliRule{
			ID:       r.ID,
			Priority: r.Priority,
			Status:   string(r.Status),
			Prefix:   r.Prefix,
		}
		if f := r.Filter; f != nil {
			rule.Filter = &cliFilter{Prefix: f.Prefix}
			if f.Tag != nil {
				rule.Filter.Tag = &cliTag{Key: f.Tag.Key, Value: f.Tag.Value}
			}
			if a := f.And; a != nil {
				rule.Filter.And = &cliAnd{Prefix: a.Prefix}
				for _, t := range a.Tags {
					rule.Filter.And.Tags = append(rule.Filter.And.Tags, cliTag{Key: t.Key, Value: t.Value})
				}
			}
		}
		if d := r.DeleteMarkerReplication; d != nil {
			rule.DeleteMarkerReplication = &cliStatus{string(d.Status)}
		}
		if e := r.ExistingObjectReplication; e != nil {
			rule.ExistingObjectReplication = &cliStatus{string(e.Status)}
		}
		if s := r.SourceSelectionCriteria; s != nil {
			rule.SourceSelectionCriteria = &cliSelection{}
			if k := s.SseKmsEncryptedObjects; k != nil {
				rule.SourceSelectionCriteria.SseKmsEncryptedObjects = &cliStatus{string(k.Status)}
			}
			if m := s.ReplicaModifications; m != nil {
				rule.SourceSelectionCriteria.ReplicaModifications = &cliStatus{string(m.Status)}
			}
		}
		if d := r.Destination; d != nil {
			rule.Destination = cliDestinationOf(d)
		}
		out.Rules = append(out.Rules, rule)
	}
	return out
}

func cliDestinationOf(d *types.Destination) *cliDestination {
	out := &cliDestination{Bucket: d.Bucket, Account: d.Account, StorageClass: string(d.StorageClass)}
	if a := d.AccessControlTranslation; a != nil {
		out.AccessControlTranslation = &cliOwner{string(a.Owner)}
	}
	if e := d.EncryptionConfiguration; e != nil {
		out.EncryptionConfiguration = &cliKMS{e.ReplicaKmsKeyID}
	}
	if t := d.ReplicationTime; t != nil {
		out.ReplicationTime = &cliRTC{Status: string(t.Status)}
		if t.Time != nil {
			out.ReplicationTime.Time = &cliMinutes{t.Time.Minutes}
		}
	}
	if m := d.Metrics; m != nil {
		out.Metrics = &cliMetrics{Status: string(m.Status)}
		if m.EventThreshold != nil {
			out.Metrics.EventThreshold = &cliMinutes{m.EventThreshold.Minutes}
		}
	}
	return out
}
