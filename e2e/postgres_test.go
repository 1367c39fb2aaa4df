package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// pgJob is a job name no other test uses, in the lab's PostgreSQL; its
// schema is dropped when the test ends.
func pgJob(t *testing.T, lab *labenv.Lab) (pgURL, job string) {
	t.Helper()
	pgURL = lab.PostgresURL(t)
	return pgURL, newPGJob(t, pgURL)
}

// newPGJob is a job name no other test uses, in the database at pgURL;
// its schema is dropped when the test ends.
func newPGJob(t *testing.T, pgURL string) string {
	t.Helper()
	b := make([]byte, 5)
	rand.Read(b)
	job := "e2e-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		db := pgOpen(t, pgURL)
		defer db.Close()
		db.Exec(`DROP SCHEMA IF EXISTS "s3backfill_` + job + `" CASCADE`)
	})
	return job
}

func pgOpen(t *testing.T, pgURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// pgDump writes every row of a job's tables, as text, to a file.
func pgDump(t *testing.T, pgURL, job string) string {
	t.Helper()
	db := pgOpen(t, pgURL)
	defer db.Close()
	var b strings.Builder
	for _, table := range []string{"job", "scans", "versions", "uploads", "upload_parts", "runs", "schema_migrations"} {
		rows, err := db.QueryContext(context.Background(), `SELECT t::text FROM "s3backfill_`+job+`".`+table+` t`)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	path := filepath.Join(t.TempDir(), "dump.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBackfillOnPostgres: the whole backfill of TestBackfillEndToEnd with
// the checkpoint in PostgreSQL; the same replicas, the same report as an
// SQLite run of the same source, nothing secret in the database, and the
// database's password in no output.
func TestBackfillOnPostgres(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	src := lab.Bucket(t, c, "e2e-src", false)
	dstPG := lab.Bucket(t, c, "e2e-dpg", true)
	dstFile := lab.Bucket(t, c, "e2e-dfl", true)
	w := seedFullWorld(t, lab, c, src)
	keyFile := writeKeyFile(t, w.customerKeys())
	pg, job := pgJob(t, lab)
	db, fileReport := jobFiles(t)
	pgReport := filepath.Join(t.TempDir(), "pg.csv")
	kmsReplica := lab.KMSKeys[3]
	var out outputs

	common := w.runFlags(lab, src, keyFile, kmsReplica)
	first := tool(t, lab, &out, append([]string{"run", "--dest", "s3://" + dstPG, "--db", pg, "--job", job, "--report", pgReport}, common...)...)
	if first.code != 3 {
		t.Fatalf("run on PostgreSQL: exit %d, want 3 (the unknown-key versions fail)\n%s", first.code, first)
	}
	w.checkBackfill(t, c, dstPG, pgReport, kmsReplica)

	// The same job on SQLite: the reports say the same of every version.
	if r := tool(t, lab, &out, append([]string{"run", "--dest", "s3://" + dstFile, "--db", db, "--report", fileReport}, common...)...); r.code != 3 {
		t.Fatalf("run on SQLite: exit %d, want 3\n%s", r.code, r)
	}
	if a, b := reportContent(t, pgReport, dstPG), reportContent(t, fileReport, dstFile); a != b {
		t.Errorf("the PostgreSQL and SQLite reports differ:\n%s", lineDiff(a, b))
	}

	// A second run, by the job's name only, copies nothing.
	before := listVersions(t, c, dstPG)
	if r := tool(t, lab, &out, "run", "--db", pg, "--job", job); r.code != 3 {
		t.Fatalf("second run: exit %d, want 3\n%s", r.code, r)
	}
	if after := listVersions(t, c, dstPG); !sameVersions(before, after) {
		t.Errorf("the second run changed the destination:\nbefore %v\nafter  %v", before, after)
	}
	status := tool(t, lab, &out, "status", "--db", pg, "--job", job)
	if status.code != 0 || !strings.Contains(status.stdout, "succeeded") || !strings.Contains(status.stdout, "SSE-C") {
		t.Errorf("status:\n%s", status)
	}
	failed := tool(t, lab, &out, "report", "--db", pg, "--job", job, "--failed-only")
	if got := strings.Count(failed.stdout, "\n") - 1; failed.code != 0 || got != 2 {
		t.Errorf("report --failed-only: %d rows, want the 2 unknown-key versions\n%s", got, failed)
	}
	// The same job name cannot take another source.
	other := tool(t, lab, &out, "run", "--db", pg, "--job", job, "--source", "s3://"+dstFile, "--dest", "s3://"+dstPG,
		"--endpoint-url", lab.Endpoint)
	if other.code != 2 || !strings.Contains(other.stderr, "cannot change its --source") {
		t.Errorf("another source under the same job name: want exit 2, refused\n%s", other)
	}

	checkNoSecrets(t, w.customerKeys(), []string{pgReport, pgDump(t, pg, job)}, out.all.Bytes())
	if password := pgPassword(t, pg); strings.Contains(out.all.String(), password) {
		t.Error("the PostgreSQL password appears in the output")
	}
}

// reportContent is a report's rows with the destination bucket and the
// replica's version id (which differ between two destinations) blanked,
// sorted.
func reportContent(t *testing.T, path, dest string) string {
	t.Helper()
	r := readDestReport(t, path)
	var lines []string
	for _, row := range r.rows {
		var cells []string
		for _, h := range r.header {
			v := row[h]
			if h == "ReplicaETag" { // a new encryption, a new ETag
				v = "-"
			}
			if id := row["DestinationVersionId"]; id != "" && id != "null" {
				v = strings.ReplaceAll(v, id, "DVID")
			}
			cells = append(cells, h+"="+strings.ReplaceAll(v, dest, "DEST"))
		}
		lines = append(lines, strings.Join(cells, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// pgPassword is the password in a PostgreSQL URL.
func pgPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		t.Fatal("the lab's PostgreSQL URL has no password")
	}
	return pw
}
