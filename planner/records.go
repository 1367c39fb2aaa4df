package planner

import "time"

// The records below travel between the packages of a job: inventory finds
// Versions and Inspections, the planner turns them into Decisions, the
// checkpoint keeps them as Tasks and Rows, the executor turns Tasks into
// Outcomes. Each is defined here once; every package uses these types.

// Version is one listed source version or delete marker.
type Version struct {
	Key          string
	VersionID    string // "null" for a version written while versioning was off
	Rank         int    // 0 = newest version of its key in one listing
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	ETag         string
	LastModified time.Time
	StorageClass string
	// Known is what the scan's input said of the version beyond a
	// listing: a manifest's encryption, replication status and so on, for
	// the plan to use instead of a HEAD. Nil from a listing, and on rows
	// read back (the checkpoint keeps it as the Inspection).
	Known *Inspection
}

// Inspection is what is known of a source version beyond the listing:
// what a HEAD of it told, or what a manifest said.
type Inspection struct {
	// Inspected: the facts below are known (a HEAD answered, or the
	// manifest said them); delete markers need none.
	Inspected bool
	// From says where they came from: FactsHead or FactsManifest.
	From       string
	Encryption Encryption // empty until inspected
	KMSKeyID   string
	// SSECKeyID is the id of the key that opened an SSE-C version; empty
	// when Encryption is SSE-C and no key did.
	SSECKeyID string
	BucketKey bool // SSE-KMS with an S3 Bucket Key
	// ReplicationStatus is x-amz-replication-status: PENDING, COMPLETED,
	// FAILED, REPLICA, or empty (never replicated).
	ReplicationStatus string
	// Checksum is the whole-object (or composite) checksum S3 keeps, if any.
	Checksum Checksum
	// Archived: in an archive tier (Glacier, Deep Archive, an archive tier
	// of Intelligent-Tiering) and not restored; it cannot be copied.
	Archived bool
	// Lock is the version's Object Lock, which S3 replication carries to
	// the replica where the destination bucket has Object Lock.
	Lock ObjectLock
}

// ObjectLock is a version's Object Lock: its retention (mode GOVERNANCE or
// COMPLIANCE, until a date) and its legal hold.
type ObjectLock struct {
	Mode        string
	RetainUntil time.Time
	LegalHold   bool
}

// Locked reports whether there is any lock to carry.
func (l ObjectLock) Locked() bool { return l.Mode != "" || l.LegalHold }

// Where an Inspection's facts came from.
const (
	FactsHead     = "head"
	FactsManifest = "manifest"
)

// Status is where a task stands.
type Status string

const (
	StatusPending   Status = "pending"
	StatusCopying   Status = "copying" // claimed by a run; after a crash, in doubt
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
)

// Statuses lists every status.
var Statuses = []Status{StatusPending, StatusCopying, StatusSucceeded, StatusFailed, StatusSkipped}

// Task is one source version to replicate to one destination bucket, with
// what inspection found and what the planner decided.
type Task struct {
	ID   int64
	Dest string // destination bucket
	Version
	Inspection
	Decision
	Status Status
	// ClaimedAt is when a copy run last claimed the task: a replica that run
	// made is no older.
	ClaimedAt time.Time
	// HasUpload: an unfinished multipart upload is recorded for the task.
	HasUpload bool
}

// InDoubt reports whether an earlier run claimed the task and stopped
// before recording what happened: the copy may or may not have been made.
func (t Task) InDoubt() bool { return t.Status == StatusCopying }

// ReplicaClass is the storage class the replica is written in: the rule's,
// else the source's.
func (t Task) ReplicaClass() string {
	if t.ReplicaStorageClass != "" {
		return t.ReplicaStorageClass
	}
	return t.StorageClass
}

// Replica is what a copy made: the replica version and how it compares
// with its source.
type Replica struct {
	VersionID      string
	ETag           string
	Encryption     Encryption // as read back; empty where it could not be
	KMSKeyID       string
	ETagStatus     string
	ETagReason     string
	ChecksumStatus string
	ChecksumReason string
	PartLayout     string // how a multipart replica was laid out
}

// Outcome is what happened to one task in a copy run.
type Outcome struct {
	TaskID int64
	// Status is succeeded, failed, pending (claimed, released unstarted),
	// or copying: still in doubt (a write's answer was lost and the
	// destination could not be checked), for the next run to reconcile.
	Status     Status
	Replica    Replica
	ErrorCode  string
	HTTPStatus int
	Message    string
	// SSECKeyID and ReplicaSSECKeyID are the keys a copy found by trying
	// them (the plan left the source's key to the copy); "" keeps the
	// planned ones.
	SSECKeyID, ReplicaSSECKeyID string
}

// Plan is what inspection and the planner made of one task.
type Plan struct {
	TaskID int64
	Inspection
	Decision          // its ErrorCode and Reason become the row's error code and message
	Status     Status // pending, skipped or failed
	HTTPStatus int    // of a HEAD that failed
}

// Row is one task as the checkpoint keeps it, with its last result. The
// error code and message are those of the last plan or copy; the embedded
// Decision's ErrorCode and Reason are left empty when a row is read back.
type Row struct {
	Task
	Replica    Replica // what the last successful copy made
	ErrorCode  string
	HTTPStatus int
	Message    string
	Attempts   int
	Verify     Verification // the last verify of the replica
	// NewerReplicated: a newer version of the same key is already
	// replicated (filled for rows to plan).
	NewerReplicated bool
}

// Verification is what a verify found for one replicated task.
type Verification struct {
	TaskID  int64
	Status  string // VerifyOK or VerifyMismatch; empty: never verified
	Message string
}

// Verification results.
const (
	VerifyOK       = "ok"
	VerifyMismatch = "mismatch"
)

// Upload is a multipart upload a copy started and has not finished. With
// an empty UploadID it is the intent to start one, recorded before
// CreateMultipartUpload is sent: an upload the server made whose id was
// never recorded (a crash, a lost answer) is found from it.
type Upload struct {
	TaskID      int64
	UploadID    string // "" for an intent
	Bucket, Key string
	Fingerprint string  // the plan and part layout it was made for
	PartSizes   []int64 // part i+1 has PartSizes[i] bytes
	Parts       []Part  // the parts recorded as finished
	// Started is when the upload, or the intent, was recorded (set by the
	// store): an upload of the key initiated since is this task's.
	Started time.Time
}

// Part is one finished part of an upload.
type Part struct {
	Number   int32
	ETag     string
	Checksum string // CRC32 of a streamed part (the upload declared CRC32)
}

// KeyWork is the work on one source key for one destination bucket: the
// tasks to copy, oldest first, and the replica versions already made.
type KeyWork struct {
	Dest    string // destination bucket
	Key     string
	DestKey string
	Tasks   []Task
	// Replicas are the destination version ids of the key's versions
	// already replicated, oldest first: they tell a replica made by an
	// interrupted run apart from older ones.
	Replicas []string
}

// KeyCursor is where a walk over keys continues: after this destination
// bucket and key.
type KeyCursor struct{ Dest, Key string }

// Count is the number and bytes of tasks with one destination, status,
// planned action and source encryption.
type Count struct {
	Dest       string
	Status     Status
	Action     Action // empty until planned
	Encryption string // source encryption; "DELETE-MARKER" or "UNINSPECTED" where there is none
	Rows       int64
	Bytes      int64
}

// ScanStats says what a scan found.
type ScanStats struct {
	Seen  int64 // versions listed
	Added int64 // tasks new to the checkpoint (one per new version and destination)
	// By is the worker that made the scan, when another process sharing
	// the job made it (this one then listed nothing).
	By string
}

// Shard is a part of the source that one worker lists: the keys under
// Prefix, or with Direct only those directly under it (no further "/"), or
// with All the job's whole source. After resumes a shard after that key
// (every version of it, and of the keys before it, is recorded).
type Shard struct {
	Prefix string
	Direct bool
	All    bool
	After  string
}

// Worker is one process working a job a database shares (PostgreSQL).
type Worker struct {
	ID        string // host-pid-random
	Host      string
	PID       int
	Command   string
	StartedAt time.Time
	Heartbeat time.Time // the last renewal of its leases
	Alive     bool      // its lease has not run out and it has not stopped
	Keys      int64     // keys it holds now
	Requests  int64     // S3 requests of its run so far
	Rate      float64   // requests per second lately
}

// RunStats is the request traffic of one run.
type RunStats struct {
	Command             string
	StartedAt           time.Time
	UpdatedAt           time.Time
	FinishedAt          time.Time // zero while it runs (or if it stopped abruptly)
	Requests, Throttled int64
	Rate                float64 // requests per second lately
	Copied              int64   // versions it copied (replicas made or adopted)
	// KeyTrials are the requests it spent on SSE-C keys that did not
	// open the version tried (HEADs and copies refused).
	KeyTrials int64
	// ByOperation are its requests by S3 operation (CopyObject, …).
	ByOperation map[string]int64
}

// RequestsPerCopy is the run's S3 requests per version it copied, or 0.
func (s RunStats) RequestsPerCopy() float64 {
	if s.Copied == 0 {
		return 0
	}
	return float64(s.Requests) / float64(s.Copied)
}
