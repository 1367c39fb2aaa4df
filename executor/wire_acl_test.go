package executor

import (
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// aclPolicy is a source version's ACL as S3 answers GetObjectAcl: its
// owner's full control and a public read grant.
const aclPolicy = `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>owner-id</ID></Owner><AccessControlList>` +
	`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>owner-id</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>` +
	`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>` +
	`</AccessControlList></AccessControlPolicy>`

// TestACL: --acl copy reads each version's ACL and puts its grants on the
// write that makes the replica (CopyObject, and CreateMultipartUpload for
// a copy in parts); owner-override gives the destination bucket's owner
// full control; by default neither the ACL is read nor grants are sent.
func TestACL(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		size      int64
		op        string
		wantACL   string
		wantRead  string
		wantFull  string
		readsACLs bool
	}{
		{mode: "", size: 100, op: "CopyObject"},
		{mode: ACLCopy, size: 100, op: "CopyObject", wantRead: `uri="http://acs.amazonaws.com/groups/global/AllUsers"`, wantFull: `id="owner-id"`, readsACLs: true},
		{mode: ACLCopy, size: 12 * mib, op: "CreateMultipartUpload", wantRead: `uri="http://acs.amazonaws.com/groups/global/AllUsers"`, wantFull: `id="owner-id"`, readsACLs: true},
		{mode: ACLOwnerOverride, size: 100, op: "CopyObject", wantACL: "bucket-owner-full-control"},
	} {
		t.Run(tc.mode+"/"+tc.op, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.ACL = func(string) string { return tc.mode }
			h.fake.SetHook(func(r s3fake.Request) *s3fake.Reply {
				if r.Op == "GetObjectAcl" {
					return s3fake.XML(aclPolicy)
				}
				return nil
			})
			h.source("k", "v1", tc.size, nil)
			action := planner.Copy
			if tc.size > 8*mib {
				action = planner.Multipart
			}
			h.run(t, planner.KeyWork{Key: "k", Tasks: []planner.Task{{ID: 1, Version: planner.Version{VersionID: "v1", Size: tc.size,
				ETag: `"e"`, StorageClass: "STANDARD"}, Inspection: planner.Inspection{Encryption: planner.NotSSE},
				Decision: planner.Decision{Action: action}}}})
			if o := h.store.outcome(t, 1); o.Status != planner.StatusSucceeded {
				t.Fatalf("outcome %+v", o)
			}
			w := h.fake.Only(t, tc.op)
			for name, want := range map[string]string{"x-amz-acl": tc.wantACL, "x-amz-grant-read": tc.wantRead, "x-amz-grant-full-control": tc.wantFull} {
				if got := w.Header.Get(name); got != want {
					t.Errorf("%s %s: %q, want %q", tc.op, name, got, want)
				}
			}
			reads := h.fake.Ops("GetObjectAcl")
			if (len(reads) == 1) != tc.readsACLs || (tc.readsACLs && (reads[0].Client != srcClient || reads[0].Query.Get("versionId") != "v1")) {
				t.Errorf("GetObjectAcl requests %v, want one of the source version: %v", s3fake.Describe(reads), tc.readsACLs)
			}
		})
	}
}
