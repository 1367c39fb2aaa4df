package storetest

import (
	"fmt"
	"testing"

	"github.com/s3backfill/s3backfill/planner"
)

var manifestPromises = []promise{
	{"a manifest's facts are kept as the version's inspection", manifestFacts},
	{"facts already known are kept; a version without any takes the scan's", manifestFactsKept},
	{"a manifest loaded whole is remembered by location and ETag, durably", manifestsLoaded},
}

// known is what a manifest says of a version.
func known(enc planner.Encryption) *planner.Inspection {
	return &planner.Inspection{Inspected: true, From: planner.FactsManifest, Encryption: enc, BucketKey: enc == planner.SSEKMS,
		ReplicationStatus: "COMPLETED"}
}

func manifestFacts(t *testing.T, h *harness) {
	a, b := ver("a", "v1", 0), ver("b", "v1", 0)
	a.Known = known(planner.SSEKMS)
	h.scanVersions([]string{dest}, []planner.Version{a, b})
	if got := h.row("a", "v1").Inspection; got != *a.Known {
		t.Errorf("a@v1 inspection %+v, want the manifest's %+v", got, *a.Known)
	}
	if got := h.row("b", "v1").Inspection; got != (planner.Inspection{}) {
		t.Errorf("b@v1 (listed without facts) inspection %+v, want none", got)
	}
}

func manifestFactsKept(t *testing.T, h *harness) {
	h.scan(listing{"a", []string{"v1"}}, listing{"b", []string{"v1"}})
	head := planner.Inspection{Inspected: true, From: planner.FactsHead, Encryption: planner.SSES3}
	if err := h.s.SavePlans(h.ctx, []planner.Plan{{TaskID: h.row("a", "v1").ID, Inspection: head,
		Decision: planner.Decision{Action: planner.Copy, DestKey: "a"}, Status: planner.StatusPending}}); err != nil {
		t.Fatal(err)
	}
	a, b := ver("a", "v1", 0), ver("b", "v1", 0)
	a.Known, b.Known = known(planner.NotSSE), known(planner.DSSEKMS)
	h.scanVersions([]string{dest}, []planner.Version{a, b})
	if got := h.row("a", "v1"); got.Inspection != head || got.Action != planner.Copy {
		t.Errorf("a@v1 after a manifest scan: inspection %+v, action %q; want the HEAD's facts and its plan kept", got.Inspection, got.Action)
	}
	if got := h.row("b", "v1").Inspection; got != *b.Known {
		t.Errorf("b@v1 after a manifest scan: inspection %+v, want the manifest's %+v", got, *b.Known)
	}
}

func manifestsLoaded(t *testing.T, h *harness) {
	loaded := func(loc, etag string) bool {
		t.Helper()
		ok, err := h.s.ManifestLoaded(h.ctx, loc, etag)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if loaded("s3://inv/m.json", "e1") {
		t.Error("a new store has loaded a manifest")
	}
	if err := h.s.SaveManifest(h.ctx, "s3://inv/m.json", "e1", 10); err != nil {
		t.Fatal(err)
	}
	if err := h.s.SaveManifest(h.ctx, "s3://inv/m.json", "e1", 10); err != nil {
		t.Fatalf("saving a manifest again: %v", err)
	}
	h.crash()
	if !loaded("s3://inv/m.json", "e1") {
		t.Error("a saved manifest is not loaded after a crash")
	}
	if loaded("s3://inv/m.json", "e2") || loaded("/local/m.json", "e1") {
		t.Error("another ETag or location counts as loaded")
	}
}

var learningPromises = []promise{
	{"what was learned of SSE-C keys adds up, durably", func(t *testing.T, h *harness) {
		if got, err := h.s.KeyLearning(h.ctx); err != nil || len(got) != 0 {
			t.Fatalf("a new store: %v, %v; want nothing learned", got, err)
		}
		save := func(fks ...planner.FolderKey) {
			t.Helper()
			if err := h.s.SaveKeyLearning(h.ctx, fks); err != nil {
				t.Fatal(err)
			}
		}
		save(planner.FolderKey{Folder: "t/", KeyID: "k1", Versions: 2}, planner.FolderKey{Folder: "", KeyID: "k1", Versions: 2})
		save(planner.FolderKey{Folder: "t/", KeyID: "k1", Versions: 3}, planner.FolderKey{Folder: "t/", KeyID: "k2", Versions: 1})
		h.crash()
		got, err := h.s.KeyLearning(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []planner.FolderKey{{Folder: "", KeyID: "k1", Versions: 2}, {Folder: "t/", KeyID: "k1", Versions: 5},
			{Folder: "t/", KeyID: "k2", Versions: 1}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("KeyLearning = %v, want %v", got, want)
		}
	}},
}
