package planner

import (
	"fmt"
	"strings"
)

// Action is what the executor does with one source version.
type Action string

const (
	// Copy is one CopyObject request.
	Copy Action = "copy"
	// Multipart is CreateMultipartUpload + UploadPartCopy + Complete.
	Multipart Action = "multipart"
	// ReplayDelete is a DELETE on the replica key, recreating a delete marker.
	ReplayDelete Action = "delete-marker"
	// Skip means a rule excludes the version; it is reported as skipped.
	Skip Action = "skip"
	// Fail means the version cannot be copied as things stand (no key opens
	// it, say); it is reported as failed with an error code.
	Fail Action = "fail"
)

// Copies reports whether the action sends requests to the destination.
func (a Action) Copies() bool { return a == Copy || a == Multipart || a == ReplayDelete }

// Error codes and reasons the planner gives. Codes follow S3 Batch
// Replication's vocabulary where it has one.
const (
	CodeSSECKeyNotFound = "SrcSSECKeyNotFound"
	CodeNotInspected    = "SrcHeadObjectFailed"
	CodeOutOfOrder      = "NewerVersionAlreadyReplicated"
	CodeArchived        = "SrcObjectInArchiveTier"

	ReasonKMSNotEnabled         = "KMS replication not enabled"
	ReasonDeleteMarkersDisabled = "delete marker replication not enabled"
	ReasonNoKeyOpensVersion     = "no key in the key file opens this SSE-C version"
	ReasonNoKeyFile             = "SSE-C version and no --keys file given"
	ReasonArchived              = "the version is in an archive tier; restore it first, then rerun"
	ReasonOutOfOrder            = "a newer version of this key is already replicated; copying this one now " +
		"would make it the replica's current version (backfill into a new destination to keep full history)"
)

// MaxCopyObjectSize is the largest object CopyObject may copy (5 GiB);
// anything larger must go through UploadPartCopy.
const MaxCopyObjectSize int64 = 5 << 30

// Rules are the job's replication rules.
type Rules struct {
	ReplicateKMS       bool   // SseKmsEncryptedObjects = Enabled
	ReplicaKMSKeyID    string // ReplicaKmsKeyID
	DeleteMarkers      bool   // DeleteMarkerReplication = Enabled
	MultipartThreshold int64  // objects larger than this are copied in parts
	SourcePrefix       string // replaced by DestPrefix in replica keys
	DestPrefix         string
	RuleID             string // the replication rule these come from, for the report
	StorageClass       string // the replica's storage class; "" keeps the source's
	// CutAtPartSize: cut multipart replicas at the part size instead of
	// replaying a multipart source's own parts (--part-layout size).
	CutAtPartSize bool

	// maxCopyObject overrides MaxCopyObjectSize in tests.
	maxCopyObject int64
}

// Validate reports rules that cannot work together.
func (r Rules) Validate() error {
	if r.ReplicateKMS && strings.TrimSpace(r.ReplicaKMSKeyID) == "" {
		return fmt.Errorf("--replicate-kms needs --replica-kms-key-id: S3 replication encrypts KMS replicas with the key the rule names")
	}
	if r.MultipartThreshold < 5<<20 || r.MultipartThreshold > MaxCopyObjectSize {
		return fmt.Errorf("--multipart-threshold must be between 5MiB (S3's smallest part) and 5GiB (the largest CopyObject), got %d bytes",
			r.MultipartThreshold)
	}
	return nil
}

// Source is what the planner knows of one version: what the listing and
// inspection found.
type Source struct {
	Version
	Inspection
	// NewerReplicated: a newer version of the key is already replicated
	// (this one was skipped or failed then, and the rules or keys changed).
	NewerReplicated bool
	// KeyOnCopy: an SSE-C version whose key is not known yet is planned
	// all the same, its keys to be tried on the copy itself (a manifest
	// said it is SSE-C; no HEAD looked for its key).
	KeyOnCopy bool
}

// SourceParts is the part count of a multipart source (from its ETag),
// else 0. A multipart source is copied in parts, replaying its layout, so
// that the replica keeps its shape (and, plaintext, its ETag).
func (s Source) SourceParts() int { return MultipartParts(s.ETag) }

// Decision is the plan for one version.
type Decision struct {
	Action    Action
	DestKey   string
	ErrorCode string // with Fail
	Reason    string // with Skip and Fail

	ReplicaEncryption   Encryption // empty: no SSE headers, destination default applies
	ReplicaKMSKeyID     string
	ReplicaSSECKeyID    string
	ReplicaStorageClass string // "" keeps the source's
	ReplicaBucketKey    bool   // ask for an S3 Bucket Key (the source has one)
	RuleID              string
}

// Decide applies the rules to one version. ring may be nil (no key file).
func Decide(src Source, rules Rules, ring *KeyRing) Decision {
	d := decide(src, rules, ring)
	if d.Action.Copies() && src.NewerReplicated {
		// The replica's history can only grow at its newest end.
		return Decision{Action: Fail, DestKey: d.DestKey, RuleID: d.RuleID, ErrorCode: CodeOutOfOrder, Reason: ReasonOutOfOrder}
	}
	return d
}

func decide(src Source, rules Rules, ring *KeyRing) Decision {
	d := Decision{DestKey: DestKey(src.Key, rules.SourcePrefix, rules.DestPrefix), RuleID: rules.RuleID}
	if src.DeleteMarker {
		if !rules.DeleteMarkers {
			d.Action, d.Reason = Skip, ReasonDeleteMarkersDisabled
			return d
		}
		d.Action = ReplayDelete
		return d
	}

	if src.Archived {
		d.Action, d.ErrorCode, d.Reason = Fail, CodeArchived, ReasonArchived
		return d
	}
	d.ReplicaStorageClass = rules.StorageClass
	switch src.Encryption {
	case NotSSE:
		// No SSE headers: the destination bucket's default applies, as
		// S3 replication does for unencrypted sources.
	case SSES3:
		d.ReplicaEncryption = SSES3
	case SSEKMS, DSSEKMS:
		if !rules.ReplicateKMS {
			d.Action, d.Reason = Skip, ReasonKMSNotEnabled
			return d
		}
		// The type is kept (DSSE stays DSSE); the key is the rule's. A
		// Bucket Key is kept where the source has one (DSSE cannot).
		d.ReplicaEncryption = src.Encryption
		d.ReplicaKMSKeyID = rules.ReplicaKMSKeyID
		d.ReplicaBucketKey = src.BucketKey && src.Encryption == SSEKMS
	case SSEC:
		if ring.Len() == 0 {
			d.Action, d.ErrorCode, d.Reason = Fail, CodeSSECKeyNotFound, ReasonNoKeyFile
			return d
		}
		k := ring.ByID(src.SSECKeyID)
		if k == nil && !src.KeyOnCopy {
			d.Action, d.ErrorCode, d.Reason = Fail, CodeSSECKeyNotFound, ReasonNoKeyOpensVersion
			return d
		}
		d.ReplicaEncryption = SSEC
		if k != nil { // else the replica's key follows from the key the copy finds
			d.ReplicaSSECKeyID = ring.ReplicaFor(k).ID
		}
	default:
		d.Action, d.ErrorCode, d.Reason = Fail, CodeNotInspected, "source version was not inspected"
		return d
	}

	maxCopy := rules.maxCopyObject
	if maxCopy == 0 {
		maxCopy = MaxCopyObjectSize
	}
	if src.Size > rules.MultipartThreshold || src.Size > maxCopy || (src.SourceParts() > 1 && !rules.CutAtPartSize) {
		d.Action = Multipart
	} else {
		d.Action = Copy
	}
	return d
}

// NormalizePrefix makes a non-empty prefix end in "/": like aws s3 sync,
// s3://bucket/photos means the folder photos/, never photos-old/.
func NormalizePrefix(p string) string {
	if p == "" || strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// DestKey maps a source key to its replica key: the source prefix is
// replaced by the destination prefix. Both are expected normalized.
func DestKey(key, srcPrefix, dstPrefix string) string {
	return dstPrefix + strings.TrimPrefix(key, srcPrefix)
}
