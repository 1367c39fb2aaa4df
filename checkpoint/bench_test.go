package checkpoint

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// seedBench fills a checkpoint with n versions (one per key), planned as
// copies, as a scan and a plan of a large bucket would.
func seedBench(b *testing.B, n int) *DB {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := db.BeginScan(ctx, []string{"dst"})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		if err := s.Add(ctx, planner.Version{Key: fmt.Sprintf("key/%08d", i), VersionID: "v", IsLatest: true, Size: 4096, LastModified: t0}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Finish(ctx); err != nil {
		b.Fatal(err)
	}
	var after int64
	for {
		page, err := db.PlanPage(ctx, after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		plans := make([]planner.Plan, len(page))
		for i, r := range page {
			plans[i] = planner.Plan{TaskID: r.ID, Inspection: planner.Inspection{Inspected: true, Encryption: "NOT-SSE"}, Decision: planner.Decision{Action: "copy", DestKey: r.Key}, Status: planner.StatusPending}
		}
		if err := db.SavePlans(ctx, plans); err != nil {
			b.Fatal(err)
		}
		after = page[len(page)-1].ID
	}
	return db
}

// BenchmarkNextWork pages through all the work of a large job the way the
// executor does (64 keys at a time); its cost per call must not grow with
// the size of the job.
func BenchmarkNextWork(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := seedBench(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				var after planner.KeyCursor
				calls := 0
				for {
					work, err := db.NextWork(ctx, after, 64)
					if err != nil {
						b.Fatal(err)
					}
					if len(work) == 0 {
						break
					}
					calls++
					after = planner.KeyCursor{Dest: work[len(work)-1].Dest, Key: work[len(work)-1].Key}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(calls*(b.N)), "µs/call")
			}
		})
	}
}

// BenchmarkScan records versions the way a scan does.
func BenchmarkScan(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir()+"/scan.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t0 := time.Now()
	b.ResetTimer()
	s, err := db.BeginScan(ctx, []string{"dst"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if err := s.Add(ctx, planner.Version{Key: fmt.Sprintf("key/%09d", i), VersionID: "v", IsLatest: true, Size: 4096, ETag: `"0123456789abcdef0123456789abcdef"`, LastModified: t0}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Finish(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "versions/s")
}

// BenchmarkEachRow reads every row the way a report does; its cost per row
// must not grow with the size of the job.
func BenchmarkEachRow(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := seedBench(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				rows := 0
				if err := db.EachRow(ctx, "", func(planner.Row) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
				if rows != n {
					b.Fatalf("%d rows, want %d", rows, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}
