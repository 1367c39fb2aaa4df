package job

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/internal/s3err"
)

// aclMode is what the replicas in dest carry of ACLs: --acl copy or
// owner-override, else a replication rule's AccessControlTranslation
// (owner override), else nothing ("").
func (j *Job) aclMode(dest string) string {
	switch j.settings.Spec.ACL {
	case executor.ACLCopy, executor.ACLOwnerOverride:
		return j.settings.Spec.ACL
	}
	for _, r := range j.rules.cfg.Rules {
		if r.Enabled && r.Dest.Bucket == dest && r.Dest.OwnerOverride {
			return executor.ACLOwnerOverride
		}
	}
	return ""
}

// checkACLs finds, before copying, the destinations where the ACLs asked
// for cannot be set: buckets with ACLs disabled (Object Ownership
// BucketOwnerEnforced), and endpoints that do not implement ACLs.
func (j *Job) checkACLs(ctx context.Context) ([]executor.Finding, error) {
	var out []executor.Finding
	for _, dest := range j.rules.targets() {
		mode := j.aclMode(dest)
		if mode == "" {
			continue
		}
		o, err := j.Dest.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String(dest)})
		switch code, status, class := s3err.Classify(err); {
		case err == nil:
		case class == s3err.Fatal:
			return nil, err
		case code == "OwnershipControlsNotFoundError":
			continue // no controls: ACLs apply, as before Object Ownership
		case status == 501 || code == "NotImplemented":
			out = append(out, executor.Finding{Error: true, Message: fmt.Sprintf("bucket %s: this endpoint does not support ACLs "+
				"(GetBucketOwnershipControls: NotImplemented), so --acl %s cannot be honoured; use --acl none", dest, mode)})
			continue
		default:
			out = append(out, executor.Finding{Error: true, Message: fmt.Sprintf("bucket %s: cannot tell whether it takes ACLs "+
				"(GetBucketOwnershipControls: %s); --acl %s needs to know", dest, code, mode)})
			continue
		}
		for _, r := range o.OwnershipControls.Rules {
			if r.ObjectOwnership == types.ObjectOwnershipBucketOwnerEnforced {
				out = append(out, executor.Finding{Error: true, Message: fmt.Sprintf("bucket %s has ACLs disabled (Object Ownership "+
					"BucketOwnerEnforced: every object is the bucket owner's), so --acl %s cannot be honoured there; use --acl none", dest, mode)})
			}
		}
	}
	return out, nil
}
