package storetest

import (
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

var uploadPromises = []promise{
	{"an upload comes back with its parts in order, with their checksums", uploadRoundTrip},
	{"a second SaveUpload for a task replaces the first and its parts", uploadReplaced},
	{"DropUpload forgets an upload and its parts, and only it", uploadDropped},
	{"Uploads lists every unfinished upload", uploadsListed},
	{"NextWork flags the tasks that have an upload", uploadFlagged},
	{"uploads are durable when SaveUpload and SavePart return", uploadDurable},
	{"an intent to start an upload is kept, replaced by its upload, dropped by task", uploadIntent},
}

// uploadFixture: keys big and huge, planned as multipart copies.
func (h *harness) uploadFixture() (big, huge int64) {
	h.t.Helper()
	h.scan(listing{"big", []string{"v1"}}, listing{"huge", []string{"v1"}})
	h.plan(planner.Multipart, planner.StatusPending, "big@v1", "huge@v1")
	ids := h.ids("big@v1", "huge@v1")
	return ids[0], ids[1]
}

// loadUpload is LoadUpload, checked against want (nil: none).
func (h *harness) loadUpload(what string, id int64, want *planner.Upload) {
	h.t.Helper()
	got, err := h.s.LoadUpload(h.ctx, id)
	if err != nil {
		h.t.Fatalf("%s: LoadUpload(%d): %v", what, id, err)
	}
	norm := func(u *planner.Upload) *planner.Upload {
		if u == nil {
			return nil
		}
		c := *u
		c.Started = time.Time{} // checked below
		if len(c.Parts) == 0 {
			c.Parts = nil
		}
		if len(c.PartSizes) == 0 {
			c.PartSizes = nil
		}
		return &c
	}
	if got != nil && (got.Started.IsZero() || got.Started.After(time.Now().Add(time.Minute))) {
		h.t.Errorf("%s: LoadUpload(%d).Started = %v, want when it was recorded", what, id, got.Started)
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		h.t.Errorf("%s: LoadUpload(%d)\n got %+v\nwant %+v", what, id, g, w)
	}
}

func (h *harness) saveUpload(u planner.Upload, parts ...planner.Part) {
	h.t.Helper()
	if err := h.s.SaveUpload(h.ctx, u); err != nil {
		h.t.Fatalf("SaveUpload(%+v): %v", u, err)
	}
	for _, p := range parts {
		if err := h.s.SavePart(h.ctx, u.UploadID, p); err != nil {
			h.t.Fatalf("SavePart(%s, %+v): %v", u.UploadID, p, err)
		}
	}
}

func uploadRoundTrip(t *testing.T, h *harness) {
	big, huge := h.uploadFixture()
	u := planner.Upload{TaskID: big, UploadID: "u1", Bucket: dest, Key: "backup/big", Fingerprint: "fp", PartSizes: []int64{5 << 20, 5 << 20, 2}}
	h.loadUpload("before SaveUpload", big, nil)
	h.saveUpload(u)
	h.loadUpload("without parts", big, &u)
	if err := h.s.SavePart(h.ctx, "u1", planner.Part{Number: 3, ETag: `"e3"`, Checksum: "crc3"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []planner.Part{{Number: 1, ETag: `"e1"`}, {Number: 2, ETag: `"e2-old"`, Checksum: "old"}, {Number: 2, ETag: `"e2"`, Checksum: "crc2"}} {
		if err := h.s.SavePart(h.ctx, "u1", p); err != nil {
			t.Fatal(err)
		}
	}
	want := u
	want.Parts = []planner.Part{{Number: 1, ETag: `"e1"`}, {Number: 2, ETag: `"e2"`, Checksum: "crc2"}, {Number: 3, ETag: `"e3"`, Checksum: "crc3"}}
	h.loadUpload("with parts saved out of order, part 2 twice", big, &want)
	h.loadUpload("another task", huge, nil)
}

func uploadReplaced(t *testing.T, h *harness) {
	big, _ := h.uploadFixture()
	h.saveUpload(planner.Upload{TaskID: big, UploadID: "u1", Bucket: dest, Key: "backup/big", Fingerprint: "fp1", PartSizes: []int64{5, 5}},
		planner.Part{Number: 1, ETag: `"e1"`})
	u2 := planner.Upload{TaskID: big, UploadID: "u2", Bucket: dest, Key: "backup/big", Fingerprint: "fp2", PartSizes: []int64{12}}
	h.saveUpload(u2)
	h.loadUpload("after a second SaveUpload", big, &u2)
	if all, err := h.s.Uploads(h.ctx); err != nil || len(all) != 1 || all[0].UploadID != "u2" {
		t.Errorf("Uploads = %+v, %v; want u2 only", all, err)
	}
	if err := h.s.SavePart(h.ctx, "u2", planner.Part{Number: 1, ETag: `"n1"`}); err != nil {
		t.Fatal(err)
	}
	u2.Parts = []planner.Part{{Number: 1, ETag: `"n1"`}}
	h.loadUpload("a part of the second upload", big, &u2)
	// The same upload id saved again starts without parts too.
	u2.Parts = nil
	h.saveUpload(u2)
	h.loadUpload("the same upload saved again", big, &u2)
}

func uploadDropped(t *testing.T, h *harness) {
	big, huge := h.uploadFixture()
	ub := planner.Upload{TaskID: big, UploadID: "ub", Bucket: dest, Key: "backup/big", Fingerprint: "fb", PartSizes: []int64{5, 1},
		Parts: []planner.Part{{Number: 1, ETag: `"b1"`}}}
	uh := planner.Upload{TaskID: huge, UploadID: "uh", Bucket: dest, Key: "backup/huge", Fingerprint: "fh", PartSizes: []int64{5, 5},
		Parts: []planner.Part{{Number: 1, ETag: `"h1"`}, {Number: 2, ETag: `"h2"`}}}
	h.saveUpload(planner.Upload{TaskID: big, UploadID: ub.UploadID, Bucket: ub.Bucket, Key: ub.Key, Fingerprint: ub.Fingerprint, PartSizes: ub.PartSizes}, ub.Parts...)
	h.saveUpload(planner.Upload{TaskID: huge, UploadID: uh.UploadID, Bucket: uh.Bucket, Key: uh.Key, Fingerprint: uh.Fingerprint, PartSizes: uh.PartSizes}, uh.Parts...)
	if err := h.s.DropUpload(h.ctx, big); err != nil {
		t.Fatal(err)
	}
	h.loadUpload("dropped", big, nil)
	h.loadUpload("the other upload", huge, &uh)
	if all, err := h.s.Uploads(h.ctx); err != nil || len(all) != 1 || all[0].UploadID != "uh" {
		t.Errorf("Uploads = %+v, %v; want uh only", all, err)
	}
	// A new upload under the dropped id has none of the old parts.
	h.saveUpload(planner.Upload{TaskID: big, UploadID: "ub", Bucket: dest, Key: "backup/big", Fingerprint: "fb2", PartSizes: []int64{6}})
	h.loadUpload("a new upload with the dropped id", big, &planner.Upload{TaskID: big, UploadID: "ub", Bucket: dest, Key: "backup/big", Fingerprint: "fb2", PartSizes: []int64{6}})
	if err := h.s.DropUpload(h.ctx, big); err != nil {
		t.Fatal(err)
	}
	if err := h.s.DropUpload(h.ctx, huge); err != nil {
		t.Fatal(err)
	}
	if all, err := h.s.Uploads(h.ctx); err != nil || len(all) != 0 {
		t.Errorf("Uploads after dropping all = %+v, %v", all, err)
	}
}

func uploadsListed(t *testing.T, h *harness) {
	if all, err := h.s.Uploads(h.ctx); err != nil || len(all) != 0 {
		t.Errorf("Uploads of a new store = %+v, %v", all, err)
	}
	h.scanVersions([]string{"east", "west"}, versions(listing{"big", []string{"v2", "v1"}}))
	var want []planner.Upload
	for i, r := range h.rows("") {
		if i == 1 {
			continue // east:big@v2 has none
		}
		u := planner.Upload{TaskID: r.ID, UploadID: "u-" + r.Dest + "-" + r.VersionID, Bucket: r.Dest, Key: "backup/" + r.Key,
			Fingerprint: "fp-" + r.VersionID, PartSizes: []int64{5, 5}}
		h.saveUpload(u, planner.Part{Number: 1, ETag: `"x"`})
		want = append(want, u)
	}
	got, err := h.s.Uploads(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].UploadID < got[j].UploadID })
	sort.Slice(want, func(i, j int) bool { return want[i].UploadID < want[j].UploadID })
	if len(got) != len(want) {
		t.Fatalf("Uploads = %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.TaskID != w.TaskID || g.UploadID != w.UploadID || g.Bucket != w.Bucket || g.Key != w.Key || g.Fingerprint != w.Fingerprint {
			t.Errorf("Uploads[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func uploadFlagged(t *testing.T, h *harness) {
	big, huge := h.uploadFixture()
	h.saveUpload(planner.Upload{TaskID: huge, UploadID: "uh", Bucket: dest, Key: "backup/huge", Fingerprint: "f", PartSizes: []int64{5}})
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "big todo=[v1] done=[]; huge todo=[v1] done=[] upload"; got != want {
		t.Errorf("NextWork = %q, want %q", got, want)
	}
	h.claim("big@v1", "huge@v1")
	h.saveUpload(planner.Upload{TaskID: big, UploadID: "ub", Bucket: dest, Key: "backup/big", Fingerprint: "f", PartSizes: []int64{5}})
	if err := h.s.DropUpload(h.ctx, huge); err != nil {
		t.Fatal(err)
	}
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "big todo=[v1] done=[] in-doubt upload; huge todo=[v1] done=[] in-doubt"; got != want {
		t.Errorf("NextWork after the uploads changed = %q, want %q", got, want)
	}
}

func uploadDurable(t *testing.T, h *harness) {
	big, huge := h.uploadFixture()
	ub := planner.Upload{TaskID: big, UploadID: "ub", Bucket: dest, Key: "backup/big", Fingerprint: "fb", PartSizes: []int64{5 << 20, 5 << 20, 1}}
	h.saveUpload(ub, planner.Part{Number: 2, ETag: `"b2"`, Checksum: "c2"}, planner.Part{Number: 1, ETag: `"b1"`, Checksum: "c1"})
	ub.Parts = []planner.Part{{Number: 1, ETag: `"b1"`, Checksum: "c1"}, {Number: 2, ETag: `"b2"`, Checksum: "c2"}}
	h.claim("big@v1")
	h.crash()
	h.loadUpload("after a crash", big, &ub)
	uh := planner.Upload{TaskID: huge, UploadID: "uh", Bucket: dest, Key: "backup/huge", Fingerprint: "fh", PartSizes: []int64{5}}
	h.saveUpload(uh, planner.Part{Number: 1, ETag: `"h1"`})
	uh.Parts = []planner.Part{{Number: 1, ETag: `"h1"`}}
	if err := h.s.SavePart(h.ctx, "ub", planner.Part{Number: 3, ETag: `"b3"`}); err != nil {
		t.Fatal(err)
	}
	ub.Parts = append(ub.Parts, planner.Part{Number: 3, ETag: `"b3"`})
	h.crash()
	h.loadUpload("after a second crash", big, &ub)
	h.loadUpload("after a second crash", huge, &uh)
	h.reopen()
	h.loadUpload("after a reopen", big, &ub)
	if got, want := workString(h.nextWork(planner.KeyCursor{}, 10)), "big todo=[v1] done=[] in-doubt upload; huge todo=[v1] done=[] upload"; got != want {
		t.Errorf("NextWork after crashes = %q, want %q", got, want)
	}
	if err := h.s.DropUpload(h.ctx, big); err != nil {
		t.Fatal(err)
	}
	h.crash()
	h.loadUpload("dropped, after a crash", big, nil)
}

// uploadIntent: an Upload without an UploadID is the intent to start one,
// recorded before CreateMultipartUpload: durable, listed, with the time it
// was recorded; the upload saved next replaces it; DropUpload forgets it.
func uploadIntent(t *testing.T, h *harness) {
	big, huge := h.uploadFixture()
	before := time.Now().Add(-time.Second)
	intent := planner.Upload{TaskID: big, Bucket: dest, Key: "backup/big", Fingerprint: "fb", PartSizes: []int64{5, 5}}
	h.saveUpload(intent)
	h.saveUpload(planner.Upload{TaskID: huge, Bucket: dest, Key: "backup/huge", Fingerprint: "fh", PartSizes: []int64{5}})
	h.crash()
	h.loadUpload("an intent, after a crash", big, &intent)
	got, err := h.s.LoadUpload(h.ctx, big)
	if err != nil || got == nil || got.Started.Before(before) {
		t.Errorf("the intent's Started = %+v, %v; want the time it was recorded", got, err)
	}
	all, err := h.s.Uploads(h.ctx)
	if err != nil || len(all) != 2 || all[0].UploadID != "" || all[1].UploadID != "" || all[0].Key != "backup/big" {
		t.Errorf("Uploads = %+v, %v; want both intents, without ids", all, err)
	}
	upload := intent
	upload.UploadID = "ub"
	h.saveUpload(upload, planner.Part{Number: 1, ETag: `"b1"`})
	upload.Parts = []planner.Part{{Number: 1, ETag: `"b1"`}}
	h.loadUpload("the upload that replaced the intent", big, &upload)
	if err := h.s.DropUpload(h.ctx, huge); err != nil {
		t.Fatal(err)
	}
	h.loadUpload("a dropped intent", huge, nil)
	if all, err := h.s.Uploads(h.ctx); err != nil || len(all) != 1 || all[0].UploadID != "ub" {
		t.Errorf("Uploads = %+v, %v; want ub only", all, err)
	}
}
