package job

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/s3backfill/s3backfill/executor"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// SourceAPI is every S3 call the job makes to the source, with the SDK's
// signatures: *s3.Client satisfies it.
type SourceAPI interface {
	executor.SourceAPI
	executor.PreflightSource
	inventory.VersionLister
	inventory.ReplicationGetter
}

// DestAPI is every S3 call the job makes to the destination.
type DestAPI interface {
	executor.DestAPI
	executor.PreflightDest
}

// Progress meters the phases; main shows it as a progress bar or log lines.
type Progress interface {
	// Start meters one phase: total items (0: unknown) of totalBytes.
	Start(phase, unit string, total, totalBytes int64) Meter
}

// Meter counts one phase's work. Safe for concurrent use.
type Meter interface {
	executor.Progress
	Finish()
}

// Traffic is what the S3 clients counted of the requests they sent.
type Traffic interface {
	Stats() (requests, throttled int64)
	Rate() float64 // requests per second lately
	// ByOperation is the requests sent so far by S3 operation.
	ByOperation() map[string]int64
}

// Deps are what a job works with: clients, checkpoint, keys, and where it
// reports. Every field but Keys, Progress and Traffic is required.
type Deps struct {
	Source   SourceAPI
	Dest     DestAPI
	Store    Store
	Keys     *planner.KeyRing // nil: read from the settings' key file, if any
	Log      *slog.Logger
	Progress Progress // nil: no progress display
	Traffic  Traffic  // nil: no request counts
	Now      func() time.Time
	// SourceEndpoint and DestEndpoint are the endpoints the clients send
	// to, as resolved from the flags, the environment and the profiles
	// ("" = AWS's).
	SourceEndpoint, DestEndpoint string
	// Reports uploads a --report s3://… (the --report-profile's client);
	// nil: the destination's client.
	Reports ObjectPutter
	// Manifests reads --manifest and its data files from S3 (the
	// --manifest-profile's client); nil: the source's client.
	Manifests inventory.ObjectGetter
	// Notice tells the user something they must see whatever the log
	// level (a key file others can read, a key about to cross to another
	// host); nil logs it as a warning.
	Notice func(string)
}

// Job is one open job.
type Job struct {
	settings Settings
	rules    rules
	Deps

	ssecMix   ssecMix                     // SSE-C share of the versions inspected so far
	copied    atomic.Int64                // versions this run copied
	settled   atomic.Int64                // versions this run copied, failed or left in doubt
	opened    time.Time                   // when the job was opened: the run's budget counts from it
	budget    atomic.Pointer[BudgetError] // the budget that stopped this run, if one did
	metrics   *jobMetrics                 // nil without --metrics-file or --metrics-listen
	keyTrials atomic.Int64                // requests this run spent on SSE-C keys that did not open the version
	// learned is what the job learned of which SSE-C keys open which
	// folders' versions (loaded from the checkpoint by learning).
	learned *planner.KeyLearning
	// probedSSES3: destinations this run probed with SSE-S3.
	probedSSES3 map[string]bool

	runNo     int64
	stopStats context.CancelFunc
	statsDone <-chan struct{}
}

// Open opens a job: it builds its replication rules (reading the source
// bucket's configuration with --replication-config-from-source) and
// stores the settings in the checkpoint, once they are known to work, so
// that a rerun with --db alone does not meet the same mistake.
func Open(ctx context.Context, s Settings, d Deps) (*Job, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Progress == nil {
		d.Progress = noProgress{}
	}
	var warning string
	if d.Keys == nil && s.Spec.KeysFile != "" {
		ring, w, err := ReadKeyFile(s.Spec.KeysFile)
		if err != nil {
			return nil, err
		}
		d.Keys, warning = ring, w
	}
	lockNote := ""
	if n, ok := d.Store.(interface{ LockNote() string }); ok {
		lockNote = n.LockNote()
	}
	if d.Keys.Len() > 0 {
		d.Store = scrubbingStore{d.Store, d.Keys}
		d.Log = slog.New(scrubbingHandler{d.Log.Handler(), d.Keys})
	}
	if d.Notice == nil {
		log := d.Log // scrubbed
		d.Notice = func(msg string) { log.Warn(msg) }
	}
	if lockNote != "" {
		d.Notice(lockNote)
	}
	if warning != "" {
		d.Notice(warning)
	}
	if s.Replication == nil && !s.Spec.ReplicationConfigFromSource {
		// Again with the endpoints the environment or a profile gave.
		if err := checkOverlap(s.Source, s.Dest, d.SourceEndpoint, d.DestEndpoint); err != nil {
			return nil, UsageError{err}
		}
	}
	j := &Job{settings: s, Deps: d, opened: d.Now(), probedSSES3: map[string]bool{}}
	var err error
	if j.rules, err = loadRules(ctx, s, d.Source); err != nil {
		return nil, err
	}
	if s.Spec.usesConfig() {
		for _, n := range j.rules.cfg.Notes() {
			d.Log.Info("replication configuration: " + n)
		}
	}
	spec := s.Spec.Marshal()
	stored, found, err := d.Store.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if !found || string(stored) != string(spec) {
		if err := d.Store.SaveSettings(ctx, spec); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Settings are the job's settings.
func (j *Job) Settings() Settings { return j.settings }

// StopGrace is how long copies in flight may finish after Ctrl-C: a few
// seconds, so that most small copies land and a large one keeps the parts
// it finished (its upload continues next run).
const StopGrace = 5 * time.Second

// statsInterval is how often a run records its request traffic for status.
const statsInterval = 5 * time.Second

// BeginRun records a run of command and keeps its traffic figures in the
// checkpoint current until Close.
func (j *Job) BeginRun(ctx context.Context, command string) error {
	if err := j.startMetrics(); err != nil {
		return err
	}
	no, err := j.Store.BeginRun(ctx, command)
	if err != nil {
		return err
	}
	j.runNo = no
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j.stopStats = cancel
	j.statsDone = every(statsInterval, sctx.Done(), func() {
		if err := j.Store.UpdateRun(sctx, j.runNo, j.runStats(), false); err != nil {
			j.Log.Debug("could not record the run's traffic", "err", err)
		}
	})
	return nil
}

// every calls f every interval until stop is closed. The channel it
// returns is closed once it has stopped.
func every(interval time.Duration, stop <-chan struct{}, f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return done
}

func (j *Job) runStats() planner.RunStats {
	if j.Traffic == nil {
		return planner.RunStats{}
	}
	req, th := j.Traffic.Stats()
	return planner.RunStats{Requests: req, Throttled: th, Rate: j.Traffic.Rate(), Copied: j.copied.Load(), KeyTrials: j.keyTrials.Load(),
		ByOperation: j.Traffic.ByOperation()}
}

// Close records the run's final traffic and its end in the metrics, with
// the exit code the run ends with. It does not close the store.
func (j *Job) Close(exitCode int) {
	if err := j.metrics.end(exitCode); err != nil {
		j.Log.Warn("could not write the metrics file a last time", "err", err)
	}
	j.metrics = nil
	if j.stopStats == nil {
		return
	}
	j.stopStats()
	<-j.statsDone
	j.stopStats = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.Store.UpdateRun(ctx, j.runNo, j.runStats(), true); err != nil {
		j.Log.Warn("could not record the run's traffic", "err", err)
	}
	if st := j.runStats(); st.Throttled > 0 {
		j.Log.Info("S3 slowed this run down", "requests", st.Requests, "throttled", st.Throttled)
	}
}

// noProgress is the Progress of a job that shows none.
type noProgress struct{}

func (noProgress) Start(string, string, int64, int64) Meter { return noMeter{} }

type noMeter struct{}

func (noMeter) Done(int, int64, bool) {}
func (noMeter) Finish()               {}

// learning loads what the checkpoint learned of SSE-C keys, once: the
// order keys are tried in starts from it. Nothing without a key file.
func (j *Job) learning(ctx context.Context) error {
	if j.learned != nil || j.Keys.Len() == 0 {
		return nil
	}
	known, err := j.Store.KeyLearning(ctx)
	if err != nil {
		return err
	}
	j.learned = planner.NewKeyLearning(known)
	return nil
}

// saveLearning records what was learned of SSE-C keys since it last did.
func (j *Job) saveLearning(ctx context.Context) error {
	return j.Store.SaveKeyLearning(ctx, j.learned.Drain())
}

// phase logs a phase's start and returns what logs its end: one event
// each, for logs read by machines (--log-format json).
func (j *Job) phase(name string) (end func(err error, attrs ...any)) {
	start := j.Now()
	j.Log.Info("phase started", "phase", name)
	return func(err error, attrs ...any) {
		attrs = append([]any{"phase", name, "seconds", j.Now().Sub(start).Seconds()}, attrs...)
		if err != nil {
			j.Log.Warn("phase stopped", append(attrs, "err", err)...)
			return
		}
		j.Log.Info("phase finished", attrs...)
	}
}
