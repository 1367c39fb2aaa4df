package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenPathWithURICharacters: '#', '?' and '%' in a path name the file
// exactly; two jobs never share one database.
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, names := range [][2]string{{"job#1.db", "job#2.db"}, {"a?x.db", "a?y.db"}, {"100%25.db", "100%.db"}} {
		a, err := Open(ctx, filepath.Join(dir, names[0]))
		if err != nil {
			t.Fatalf("Open %s: %v", names[0], err)
		}
		defer a.Close()
		b, err := Open(ctx, filepath.Join(dir, names[1]))
		if err != nil {
			t.Fatalf("Open %s: %v", names[1], err)
		}
		defer b.Close()
		if err := a.SaveSettings(ctx, []byte(`{"job":"`+names[0]+`"}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveSettings(ctx, []byte(`{"job":"`+names[1]+`"}`)); err != nil {
			t.Fatal(err)
		}
		if s, _, _ := a.Settings(ctx); string(s) != `{"job":"`+names[0]+`"}` {
			t.Errorf("checkpoint %s holds the settings %s: both jobs share one database", names[0], s)
		}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
				t.Errorf("database file %s not created: %v", n, err)
			}
		}
	}
}

func TestOpenReaderDoesNotCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	if db, err := OpenReader(context.Background(), path); err == nil {
		db.Close()
		t.Error("OpenReader of a missing checkpoint succeeded")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("OpenReader created the missing checkpoint")
	}
}
