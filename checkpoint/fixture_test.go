package checkpoint

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/internal/job/storetest"
	"github.com/s3backfill/s3backfill/planner"
)

// copyFixture is a copy of the checkpoint written by the release at
// 9b97cbf (see storetest.OldCheckpoint); internal/job/testdata has what
// that release's report and status printed for it.
func copyFixture(t *testing.T) string { return storetest.OldCheckpoint(t) }

// fixtureRows are the rows of the old checkpoint, in EachRow order, as
// this version must read them.
func fixtureRows() []planner.Row {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	claimed := at("2025-03-04T05:06:07Z")
	row := func(id int64, key, vid string, v planner.Version, ins planner.Inspection, d planner.Decision, status planner.Status) planner.Row {
		v.Key, v.VersionID = key, vid
		if ins.Inspected && !v.DeleteMarker { // the old release knew facts only from a HEAD
			ins.From = planner.FactsHead
		}
		r := planner.Row{Task: planner.Task{ID: id, Dest: "dst", Version: v, Inspection: ins, Decision: d, Status: status}}
		r.Verify.TaskID = id
		return r
	}
	notSSE := planner.Inspection{Inspected: true, Encryption: planner.NotSSE}

	a1 := row(2, "data/a.txt", "a1", planner.Version{Size: 5, ETag: `"594f803b380a41396ed63dca39503542"`, LastModified: at("2025-01-01T01:00:00Z"), StorageClass: "STANDARD"},
		notSSE, planner.Decision{Action: planner.Copy, DestKey: "backup/a.txt", ReplicaEncryption: planner.NotSSE}, planner.StatusSucceeded)
	a1.ClaimedAt, a1.Attempts, a1.Message = claimed, 1, "copied by CopyObject"
	a1.Replica = planner.Replica{VersionID: "dv-a1", ETag: `"594f803b380a41396ed63dca39503542"`, Encryption: planner.NotSSE, ETagStatus: "equal",
		ChecksumStatus: "not-compared", ChecksumReason: "the source has no checksum"}
	a1.Verify = planner.Verification{TaskID: 2, Status: planner.VerifyOK, Message: "size checked"}

	a2 := row(1, "data/a.txt", "a2", planner.Version{IsLatest: true, Size: 6, ETag: `"b0baee9d279d34fa1dfd71aadb908c3f"`, LastModified: at("2025-01-01T02:00:00Z"), StorageClass: "STANDARD"},
		notSSE, planner.Decision{Action: planner.Copy, DestKey: "backup/a.txt"}, planner.StatusPending)

	b1 := row(3, "data/b.txt", "b1", planner.Version{IsLatest: true, Size: 3, ETag: `"08f8e0260c64418510cefb2b06eee5cd"`, LastModified: at("2025-01-01T01:00:00Z"), StorageClass: "STANDARD"},
		planner.Inspection{Inspected: true, Encryption: planner.SSES3, Checksum: planner.Checksum{Algorithm: "CRC32", Value: "NSRBwg==", Type: "FULL_OBJECT"}},
		planner.Decision{Action: planner.Copy, DestKey: "backup/b.txt", ReplicaEncryption: planner.SSES3}, planner.StatusCopying)
	b1.ClaimedAt, b1.Attempts = claimed, 1

	g1 := row(4, "data/big.bin", "g1", planner.Version{IsLatest: true, Size: 12582912, ETag: `"0123456789abcdef0123456789abcdef-3"`, LastModified: at("2025-01-01T01:00:00Z"), StorageClass: "STANDARD"},
		notSSE, planner.Decision{Action: planner.Multipart, DestKey: "backup/big.bin"}, planner.StatusCopying)
	g1.ClaimedAt, g1.Attempts = claimed, 1

	d0 := row(6, "data/gone", "d0", planner.Version{Size: 4, ETag: `"e2fc714c4727ee9395f324cd2e7f331f"`, LastModified: at("2025-01-01T02:00:00Z"), StorageClass: "STANDARD"},
		notSSE, planner.Decision{Action: planner.Copy, DestKey: "backup/gone", ReplicaEncryption: planner.NotSSE}, planner.StatusSucceeded)
	d0.ClaimedAt, d0.Attempts, d0.Message = claimed, 1, "copied by CopyObject"
	d0.Replica = planner.Replica{VersionID: "dv-d0", ETag: `"e2fc714c4727ee9395f324cd2e7f331f"`, Encryption: planner.NotSSE, ETagStatus: "equal"}

	d1 := row(5, "data/gone", "d1", planner.Version{IsLatest: true, DeleteMarker: true, LastModified: at("2025-01-01T03:00:00Z")},
		planner.Inspection{Inspected: true}, planner.Decision{Action: planner.ReplayDelete, DestKey: "backup/gone"}, planner.StatusSucceeded)
	d1.ClaimedAt, d1.Attempts, d1.Message = claimed, 1, "delete marker replayed"
	d1.Replica = planner.Replica{VersionID: "dv-d1"}

	// A Bucket Key source skipped: no SSE-KMS replica, no Bucket Key asked.
	k1 := row(7, "data/kms.txt", "k1", planner.Version{IsLatest: true, Size: 7, ETag: `"5d41402abc4b2a76b9719d911017c592"`, LastModified: at("2025-01-01T01:00:00Z"), StorageClass: "STANDARD"},
		planner.Inspection{Inspected: true, Encryption: planner.SSEKMS, KMSKeyID: "arn:aws:kms:src-key", BucketKey: true},
		planner.Decision{Action: planner.Skip, DestKey: "backup/kms.txt"}, planner.StatusSkipped)
	k1.Message = "KMS replication not enabled"

	n1 := row(8, "data/new.txt", "n1", planner.Version{IsLatest: true, Size: 2, ETag: `"5d41402abc4b2a76b9719d911017c592"`, LastModified: at("2025-01-01T04:00:00Z"), StorageClass: "STANDARD"},
		planner.Inspection{}, planner.Decision{}, planner.StatusPending)

	s1 := row(9, `data/secret, "x".txt`, "s1", planner.Version{IsLatest: true, Size: 9, ETag: `"ffffffffffffffffffffffffffffffff"`, LastModified: at("2025-01-01T01:00:00Z"), StorageClass: "STANDARD_IA"},
		planner.Inspection{Inspected: true, Encryption: planner.SSEC}, planner.Decision{Action: planner.Fail, DestKey: `backup/secret, "x".txt`}, planner.StatusFailed)
	s1.ErrorCode, s1.Message = planner.CodeSSECKeyNotFound, "SSE-C version and no --keys file given"

	return []planner.Row{a1, a2, b1, g1, d0, d1, k1, n1, s1}
}

// fixtureUpload is the upload of data/big.bin, one part done.
var fixtureUpload = planner.Upload{TaskID: 4, UploadID: "upl-1", Bucket: "dst", Key: "backup/big.bin", Fingerprint: "0011223344556677",
	PartSizes: []int64{5242880, 5242880, 2097152}, Parts: []planner.Part{{Number: 1, ETag: `"part-1"`}},
	Started: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}

// checkFixture reads everything of the old job through db.
func checkFixture(t *testing.T, db *DB) []planner.Row {
	t.Helper()
	ctx := context.Background()
	rows := allRows(t, db)
	want := fixtureRows()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range rows {
		if !reflect.DeepEqual(rows[i], want[i]) {
			t.Errorf("row %d (%s@%s)\n got %+v\nwant %+v", i, want[i].Key, want[i].VersionID, rows[i], want[i])
		}
	}
	if u, err := db.LoadUpload(ctx, 4); err != nil || !reflect.DeepEqual(u, &fixtureUpload) {
		t.Errorf("LoadUpload(4) = %+v, %v; want %+v", u, err, fixtureUpload)
	}
	if u, err := db.LoadUpload(ctx, 3); err != nil || u != nil {
		t.Errorf("LoadUpload(3) = %+v, %v; want none", u, err)
	}
	run, err := db.LastRun(ctx)
	want0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err != nil || run == nil || !reflect.DeepEqual(*run, planner.RunStats{Command: "run", StartedAt: want0, UpdatedAt: want0, Requests: 42, Throttled: 1, Rate: 3.5}) {
		t.Errorf("LastRun = %+v, %v", run, err)
	}
	if s, ok, err := db.Settings(ctx); err != nil || !ok || !strings.HasPrefix(string(s), `{"source":"s3://src/data","dest":"s3://dst/backup",`) {
		t.Errorf("Settings = %s, %v, %v", s, ok, err)
	}
	counts, err := db.Counts(ctx)
	wantCounts := []planner.Count{
		{Dest: "dst", Status: planner.StatusCopying, Action: planner.Copy, Encryption: "SSE-S3", Rows: 1, Bytes: 3},
		{Dest: "dst", Status: planner.StatusCopying, Action: planner.Multipart, Encryption: "NOT-SSE", Rows: 1, Bytes: 12582912},
		{Dest: "dst", Status: planner.StatusFailed, Action: planner.Fail, Encryption: "SSE-C", Rows: 1, Bytes: 9},
		{Dest: "dst", Status: planner.StatusPending, Action: "", Encryption: "UNINSPECTED", Rows: 1, Bytes: 2},
		{Dest: "dst", Status: planner.StatusPending, Action: planner.Copy, Encryption: "NOT-SSE", Rows: 1, Bytes: 6},
		{Dest: "dst", Status: planner.StatusSkipped, Action: planner.Skip, Encryption: "SSE-KMS", Rows: 1, Bytes: 7},
		{Dest: "dst", Status: planner.StatusSucceeded, Action: planner.Copy, Encryption: "NOT-SSE", Rows: 2, Bytes: 9},
		{Dest: "dst", Status: planner.StatusSucceeded, Action: planner.ReplayDelete, Encryption: "DELETE-MARKER", Rows: 1, Bytes: 0},
	}
	if err != nil || !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("Counts = %+v, %v\nwant %+v", counts, err, wantCounts)
	}
	return rows
}

// schemaOf says which migrations db has and whether versions has the
// replica_bucket_key column.
func schemaOf(t *testing.T, db *DB) (migrations int, bucketKeyColumn bool) {
	t.Helper()
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('versions') WHERE name = 'replica_bucket_key'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return migrations, n == 1
}

// TestOldCheckpoint: a checkpoint the previous release wrote reads the
// same read-only (as status and report open it, without migrating) and
// after Open has migrated it; a run then resumes its work in order.
func TestOldCheckpoint(t *testing.T) {
	ctx := context.Background()
	reader, err := OpenReader(ctx, copyFixture(t))
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	read := checkFixture(t, reader)
	if n, col := schemaOf(t, reader); n != 3 || col {
		t.Errorf("after reading: %d migrations, replica_bucket_key column %v; want the file untouched", n, col)
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, copyFixture(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if n, col := schemaOf(t, db); n != 6 || !col {
		t.Errorf("after Open: %d migrations, replica_bucket_key column %v; want 6 and the column", n, col)
	}
	if migrated := checkFixture(t, db); !reflect.DeepEqual(migrated, read) {
		t.Error("the migrated checkpoint reads differently from the old one read as it is")
	}
	work, err := db.NextWork(ctx, planner.KeyCursor{}, 64)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]planner.Task{}
	for _, r := range read {
		byID[r.ID] = r.Task
	}
	task := func(id int64, upload bool) planner.Task {
		tk := byID[id]
		tk.HasUpload = upload
		return tk
	}
	want := []planner.KeyWork{
		{Dest: "dst", Key: "data/a.txt", DestKey: "backup/a.txt", Tasks: []planner.Task{task(1, false)}, Replicas: []string{"dv-a1"}},
		{Dest: "dst", Key: "data/b.txt", DestKey: "backup/b.txt", Tasks: []planner.Task{task(3, false)}},
		{Dest: "dst", Key: "data/big.bin", DestKey: "backup/big.bin", Tasks: []planner.Task{task(4, true)}},
	}
	if !reflect.DeepEqual(work, want) {
		t.Errorf("NextWork =\n%+v\nwant\n%+v", work, want)
	}
	if !work[1].Tasks[0].InDoubt() || !work[2].Tasks[0].InDoubt() || work[0].Tasks[0].InDoubt() {
		t.Error("the in-doubt tasks are b1 and g1 only")
	}
	if n, b, err := db.CountWork(ctx); err != nil || n != 3 || b != 6+3+12582912 {
		t.Errorf("CountWork = %d, %d, %v", n, b, err)
	}
	page, err := db.PlanPage(ctx, 0, 100)
	var got []string
	for _, r := range page {
		got = append(got, fmt.Sprintf("%s:%v", r.VersionID, r.NewerReplicated))
	}
	if err != nil || strings.Join(got, " ") != "a2:false k1:false n1:false s1:false" {
		t.Errorf("PlanPage = %v, %v; want a2 (after a1, replicated), k1, n1, s1", got, err)
	}
}
