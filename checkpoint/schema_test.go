package checkpoint

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// squash collapses runs of white space, so that SQL compares by its words.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestWorkIndexMatchesWorkRows: SQLite uses the partial index versions_work
// only for a WHERE that repeats the index's own (NextWork says INDEXED BY
// and would fail without it); the migration and workRows must stay equal.
func TestWorkIndexMatchesWorkRows(t *testing.T) {
	body, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)CREATE INDEX versions_work ON versions \(dest, key\)\s+WHERE (.*?);`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no CREATE INDEX versions_work ... WHERE ...; in 0001_init.sql")
	}
	if got, want := squash(string(m[1])), squash(workRows); got != want {
		t.Errorf("versions_work's WHERE is\n  %s\nworkRows is\n  %s", got, want)
	}

	// The index as a migrated database has it, and SQLite's own plan.
	db := openTest(t)
	var sql string
	if err := db.r.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'versions_work'`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	if _, where, ok := strings.Cut(sql, " WHERE "); !ok || squash(where) != squash(workRows) {
		t.Errorf("the database's versions_work is %q; want the WHERE %q", sql, workRows)
	}
	// SQLite refuses INDEXED BY when the index cannot serve the WHERE:
	// workRows can use it, a WHERE that differs cannot.
	indexed := `SELECT COUNT(*) FROM versions INDEXED BY versions_work WHERE `
	var n int
	if err := db.r.QueryRow(indexed + workRows).Scan(&n); err != nil {
		t.Errorf("workRows cannot use versions_work: %v", err)
	}
	other := strings.Replace(workRows, "'failed'", "'failed', 'skipped'", 1)
	if err := db.r.QueryRow(indexed + other).Scan(&n); err == nil {
		t.Errorf("a WHERE other than the index's used it: the check above proves nothing")
	}
	if _, err := db.NextWork(context.Background(), planner.KeyCursor{}, 10); err != nil {
		t.Errorf("NextWork (INDEXED BY versions_work) = %v", err)
	}
}

// plannerConsts lists the string constants of a type declared in package
// planner, by reading its source: a status or action added there is
// checked here without anyone listing it.
func plannerConsts(t *testing.T, typ string) []string {
	t.Helper()
	files, err := filepath.Glob("../planner/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s constant %s is not a string literal", typ, vs.Names[0])
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants found in ../planner", typ)
	}
	sort.Strings(out)
	return out
}

// TestCodesRoundTrip: every planner.Status and planner.Action has a stored
// word, each word reads back as what was stored, unknown ones are refused,
// and the statuses are those the schema's CHECK allows.
func TestCodesRoundTrip(t *testing.T) {
	statuses := plannerConsts(t, "Status")
	var listed []string
	for _, s := range planner.Statuses {
		listed = append(listed, string(s))
	}
	sort.Strings(listed)
	if strings.Join(listed, " ") != strings.Join(statuses, " ") {
		t.Errorf("planner.Statuses = %v, the Status constants are %v", listed, statuses)
	}
	words := map[string]bool{}
	for _, c := range statuses {
		s := planner.Status(c)
		w, err := statusText(s)
		if err != nil {
			t.Errorf("statusText(%q): %v", s, err)
			continue
		}
		if words[w] {
			t.Errorf("status word %q used twice", w)
		}
		words[w] = true
		if back, err := statusOf(w); err != nil || back != s {
			t.Errorf("status %q stored as %q reads back as %q, %v", s, w, back, err)
		}
	}
	body, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CHECK \(status IN \(([^)]*)\)\)`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no CHECK on versions.status in 0001_init.sql")
	}
	var check []string
	for _, w := range strings.Split(string(m[1]), ",") {
		check = append(check, strings.Trim(strings.TrimSpace(w), "'"))
	}
	var stored []string
	for w := range words {
		stored = append(stored, w)
	}
	sort.Strings(check)
	sort.Strings(stored)
	if strings.Join(check, " ") != strings.Join(stored, " ") {
		t.Errorf("the schema allows the statuses %v, codes.go stores %v", check, stored)
	}

	actions := append([]string{""}, plannerConsts(t, "Action")...) // "" is unplanned
	words = map[string]bool{}
	for _, c := range actions {
		a := planner.Action(c)
		w, err := actionText(a)
		if err != nil {
			t.Errorf("actionText(%q): %v", a, err)
			continue
		}
		if words[w] {
			t.Errorf("action word %q used twice", w)
		}
		words[w] = true
		if back, err := actionOf(w); err != nil || back != a {
			t.Errorf("action %q stored as %q reads back as %q, %v", a, w, back, err)
		}
		if inCopy := strings.Contains(copyActions, "'"+w+"'"); inCopy != a.Copies() {
			t.Errorf("action %q: in copyActions %v, Copies() %v", a, inCopy, a.Copies())
		}
	}
	if len(actionWords) != len(actions) || len(statusWords) != len(statuses) {
		t.Errorf("codes.go has %d action and %d status words for %d actions and %d statuses",
			len(actionWords), len(statusWords), len(actions), len(statuses))
	}
	for _, bad := range []string{"bogus", "Pending", "in-doubt"} {
		if _, err := statusText(planner.Status(bad)); err == nil {
			t.Errorf("statusText(%q) succeeded", bad)
		}
		if _, err := statusOf(bad); err == nil {
			t.Errorf("statusOf(%q) succeeded", bad)
		}
		if _, err := actionText(planner.Action(bad)); err == nil {
			t.Errorf("actionText(%q) succeeded", bad)
		}
		if _, err := actionOf(bad); err == nil {
			t.Errorf("actionOf(%q) succeeded", bad)
		}
	}
}

// TestStampsRoundTrip: times are stored to the nanosecond in UTC, the zero
// time as "".
func TestStampsRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC+2", 2*60*60)
	for _, tm := range []time.Time{{}, time.Date(2024, 6, 1, 14, 0, 0, 123456789, zone), clock} {
		s := formatStamp(tm)
		back, err := parseStamp(s)
		if err != nil || !back.Equal(tm) || (tm.IsZero() != (s == "")) {
			t.Errorf("%v stored as %q reads back as %v, %v", tm, s, back, err)
		}
	}
	if s := formatStamp(time.Date(2024, 6, 1, 14, 0, 0, 123456789, zone)); s != "2024-06-01T12:00:00.123456789Z" {
		t.Errorf("stamp = %q, want UTC with nanoseconds", s)
	}
	if _, err := parseStamp("yesterday"); err == nil {
		t.Error("parseStamp accepted a bad time")
	}
}
