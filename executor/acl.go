package executor

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/planner"
)

// ACLs, as --acl asks: a replica carries its source version's grants
// (copy: GetObjectAcl, then the grants on the write that makes the
// replica), or gives the destination bucket's owner full control
// (owner-override: S3 replication's AccessControlTranslation), or gets
// the bucket's default (none).
const (
	ACLCopy          = "copy"
	ACLOwnerOverride = "owner-override"
)

// replicaACL is what the write making a replica says of its ACL.
type replicaACL struct {
	canned                               types.ObjectCannedACL
	fullControl, read, readACP, writeACP *string
}

// aclOf reads what the replica of t must carry.
func (e *Executor) aclOf(ctx context.Context, t planner.Task) (replicaACL, error) {
	mode := ""
	if e.cfg.ACL != nil {
		mode = e.cfg.ACL(t.Dest)
	}
	switch mode {
	case ACLOwnerOverride:
		return replicaACL{canned: types.ObjectCannedACLBucketOwnerFullControl}, nil
	case ACLCopy:
	default:
		return replicaACL{}, nil
	}
	out, err := e.src.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String(e.cfg.SourceBucket), Key: aws.String(t.Key),
		VersionId: aws.String(t.VersionID)})
	if err != nil {
		return replicaACL{}, fmt.Errorf("GetObjectAcl (source): %w", err)
	}
	by := map[types.Permission][]string{}
	for _, g := range out.Grants {
		if id := grantee(g.Grantee); id != "" {
			by[g.Permission] = append(by[g.Permission], id)
		}
	}
	join := func(p types.Permission) *string {
		if len(by[p]) == 0 {
			return nil
		}
		return aws.String(strings.Join(by[p], ", "))
	}
	return replicaACL{fullControl: join(types.PermissionFullControl), read: join(types.PermissionRead),
		readACP: join(types.PermissionReadAcp), writeACP: join(types.PermissionWriteAcp)}, nil
}

// grantee is a grantee as an x-amz-grant-* header names it.
func grantee(g *types.Grantee) string {
	switch {
	case g == nil:
		return ""
	case aws.ToString(g.ID) != "":
		return fmt.Sprintf("id=%q", aws.ToString(g.ID))
	case aws.ToString(g.URI) != "":
		return fmt.Sprintf("uri=%q", aws.ToString(g.URI))
	case aws.ToString(g.EmailAddress) != "":
		return fmt.Sprintf("emailAddress=%q", aws.ToString(g.EmailAddress))
	}
	return ""
}

func (a replicaACL) applyCopy(in *s3.CopyObjectInput) {
	in.ACL, in.GrantFullControl, in.GrantRead, in.GrantReadACP, in.GrantWriteACP = a.canned, a.fullControl, a.read, a.readACP, a.writeACP
}

func (a replicaACL) applyCreate(in *s3.CreateMultipartUploadInput) {
	in.ACL, in.GrantFullControl, in.GrantRead, in.GrantReadACP, in.GrantWriteACP = a.canned, a.fullControl, a.read, a.readACP, a.writeACP
}

func (a replicaACL) applyPut(in *s3.PutObjectInput) {
	in.ACL, in.GrantFullControl, in.GrantRead, in.GrantReadACP, in.GrantWriteACP = a.canned, a.fullControl, a.read, a.readACP, a.writeACP
}
