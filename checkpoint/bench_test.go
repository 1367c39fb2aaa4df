package checkpoint

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/s3backfill/s3backfill/planner"
)

// seedBench fills a new SQLite checkpoint with n versions (one per key),
// planned as copies, as a scan and a plan of a large bucket would.
func seedBench(b *testing.B, n int) *DB {
	b.Helper()
	db, err := Open(context.Background(), b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	fillBench(b, db, n)
	return db
}

// fillBench records n versions (one per key) in db and plans each as a
// copy.
func fillBench(b *testing.B, db *DB, n int) {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	if _, err := db.RecordScan(ctx, []string{"dst"}, func(add func(planner.Version) error) error {
		for i := range n {
			if err := add(planner.Version{Key: fmt.Sprintf("key/%08d", i), VersionID: "v", IsLatest: true, Size: 4096, LastModified: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var after int64
	for {
		page, err := db.ClaimPlan(ctx, after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			return
		}
		plans := make([]planner.Plan, len(page))
		for i, r := range page {
			plans[i] = planner.Plan{TaskID: r.ID, Inspection: planner.Inspection{Inspected: true, Encryption: planner.NotSSE},
				Decision: planner.Decision{Action: planner.Copy, DestKey: r.Key}, Status: planner.StatusPending}
		}
		if err := db.SavePlans(ctx, plans); err != nil {
			b.Fatal(err)
		}
		after = page[len(page)-1].ID
	}
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

// BenchmarkClaimKeysPostgres: 64 workers of one job on the lab's
// PostgreSQL take keys at once the way the executor does (ClaimKeys, Claim,
// one outcome per task, committed in batches) until none is left: how many
// keys one database hands out a second, i.e. how many workers it can feed.
// With the executor's batch (64 keys a claim) and with one key a claim.
// Run: go test -run '^$' -bench ClaimKeysPostgres -benchtime 1x ./checkpoint
func BenchmarkClaimKeysPostgres(b *testing.B) {
	claimers, keys := 64, 20_000
	if n, err := strconv.Atoi(os.Getenv("BENCH_CLAIMERS")); err == nil {
		claimers = n
	}
	pg := labPostgres(b)
	ctx := context.Background()
	for _, batch := range []int{64, 1} {
		b.Run(fmt.Sprintf("claimers=%d/batch=%d", claimers, batch), func(b *testing.B) {
			var handed time.Duration
			for range b.N {
				b.StopTimer()
				name := newJobName(b, pg)
				seed, err := OpenPostgres(ctx, pg, name, 0)
				if err != nil {
					b.Fatal(err)
				}
				fillBench(b, seed, keys)
				stores := make([]*DB, claimers)
				for i := range stores {
					if stores[i], err = OpenPostgres(ctx, pg, name, 0); err != nil {
						b.Fatal(err)
					}
				}
				var (
					mu    sync.Mutex
					got   int
					last  time.Time
					wg    sync.WaitGroup
					start = time.Now()
				)
				b.StartTimer()
				for _, s := range stores {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var after planner.KeyCursor
						for {
							work, err := s.ClaimKeys(ctx, after, batch)
							if err != nil {
								b.Error(err)
								return
							}
							if len(work) == 0 {
								return
							}
							after = planner.KeyCursor{Dest: work[len(work)-1].Dest, Key: work[len(work)-1].Key}
							var ids []int64
							for _, w := range work {
								for _, t := range w.Tasks {
									ids = append(ids, t.ID)
								}
							}
							if err := s.Claim(ctx, ids); err != nil {
								b.Error(err)
								return
							}
							for _, id := range ids {
								if err := s.Record(planner.Outcome{TaskID: id, Status: planner.StatusSucceeded}); err != nil {
									b.Error(err)
									return
								}
							}
							mu.Lock()
							got += len(work)
							last = time.Now()
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				// The time to the last key handed out: a claimer left without
				// keys waits a poll for the others, which is not claiming.
				handed += last.Sub(start)
				if got != keys {
					b.Errorf("%d keys handed out, want each of %d once", got, keys)
				}
				for _, s := range append(stores, seed) {
					s.Close()
				}
			}
			b.ReportMetric(float64(keys*b.N)/handed.Seconds(), "keys/s")
		})
	}
}
