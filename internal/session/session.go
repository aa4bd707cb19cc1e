// Package session runs the stages of one clstr command and reports them.
// A Session is opened once per command: it owns the runtime the stages
// share, the log folder each stage leaves its record in, the cancellation
// of the run by a signal, and the reports. Every stage ends as an
// Outcome, whether it ran or could not, and every Reporter (the terminal,
// JUnit, the HTML report, GitHub annotations) is told of it the same way,
// so that no path of a command reports differently from another.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/runlog"
)

// Exit statuses of a command: the target passed, the target failed, clstr
// or the script could not judge it (an interrupted run included).
const (
	Pass  = 0
	Fail  = 1
	Error = 2
)

// Stage is what a session runs: a loaded script, or a stage of a
// challenge (Challenge).
type Stage interface {
	// Name is how the output and the reports name it.
	Name() string
	TestNames() []string
	Config() engine.Config
	Suite() *attest.Suite
}

// Challenge is a stage of a challenge, loaded.
type Challenge struct {
	Key   string        // "challenge/stage"
	Tests *attest.Suite // the stage's suite
}

func (c Challenge) Name() string          { return c.Key }
func (c Challenge) TestNames() []string   { return c.Tests.TestNames() }
func (c Challenge) Config() engine.Config { return c.Tests.Config() }
func (c Challenge) Suite() *attest.Suite  { return c.Tests }

// Unloaded names a script or a stage of a challenge that did not load, for
// NotRun: it has no tests.
type Unloaded struct {
	Key string
	// Stage is set for a stage of a challenge ("challenge/stage").
	Stage bool
}

func (u Unloaded) Name() string          { return u.Key }
func (u Unloaded) TestNames() []string   { return nil }
func (u Unloaded) Config() engine.Config { return engine.Config{} }
func (u Unloaded) Suite() *attest.Suite  { return nil }

// IsChallenge reports whether s is a stage of a challenge rather than a
// script.
func IsChallenge(s Stage) bool {
	switch s := s.(type) {
	case Challenge:
		return true
	case Unloaded:
		return s.Stage
	}
	return false
}

// Outcome is how a stage ended: it ran to a verdict, was interrupted, or
// could not run at all (NotRun).
type Outcome struct {
	Stage Stage
	// Started is when the stage's run started; Ended when it ended.
	Started, Ended time.Time
	// Result is the engine's result. A stage that did not run has one too,
	// with Err saying why and every test not run.
	Result  *engine.Result
	Verdict engine.Verdict
	// Interrupted is the signal that stopped the run before a verdict, or
	// nil.
	Interrupted os.Signal
	// Stopped says in a few words what stopped the run outside any test
	// ("the cluster did not start"); "" when nothing did.
	Stopped string
	// NotRun is set when the stage could not run at all.
	NotRun bool
	// LogDir holds the stage's logs; "" for none. Logs is the same folder
	// as the terminal names it, "" when what is there is the last run's.
	LogDir, Logs string
	// Events are the stage's event log.
	Events []cluster.Event
	// Status is the exit status the stage alone gives the command.
	Status int
}

// Reporter is told of every stage of a command as it ends, and writes its
// report after each one, so that what it wrote always holds every stage
// that ended.
type Reporter interface {
	// Stage records how a stage ended.
	Stage(o *Outcome)
	// Flush writes the report as it stands for a command whose exit status
	// is so far status, and returns the status the command ends with: a
	// report that cannot be written turns a pass into Error but never
	// hides a failure.
	Flush(status int) int
}

// Live shows a stage to a person while it runs.
type Live interface {
	engine.Reporter
	// Started says what runs, on what target, from which seed.
	Started(s Stage, target string, seed uint64)
}

// Runtime opens the runtime of a session: close, if not nil, releases it.
type Runtime func(ctx context.Context) (rt cluster.Runtime, close func() error, err error)

// Options say how a session runs its stages.
type Options struct {
	// Runtime opens the runtime the stages run on, once, at the first
	// stage (or at Start). A session without one only records stages
	// that did not run.
	Runtime Runtime
	// Root is the directory whose runlog.Dir each stage writes its logs
	// into; "" for no log folder.
	Root string
	// Target says what runs, for the first line of a stage.
	Target string
	// Filter, if not nil, runs only the tests whose names match it.
	Filter *regexp.Regexp
	// Seed is the seed of every stage; 0 for a new one each.
	Seed uint64
	// Disk, if not nil, bounds what the stages leave on disk.
	Disk *artifact.Quota
	// Live shows the stages as they run; nil for nothing.
	Live Live
	// Reporters are told of every stage, in order: the terminal's
	// summary first, where it is one.
	Reporters []Reporter
	// Stderr is where clstr's own errors go: a runtime that did not start,
	// a log folder or a report that could not be written.
	Stderr io.Writer
	// Signals, if set, is called at the first stage with the function
	// that cancels the run, and returns the function that stops
	// listening. A signal cancels with a cause that is an Interruption.
	Signals func(cancel context.CancelCauseFunc) (stop func())
}

// Interruption is the cause of a run's cancellation by a signal.
type Interruption interface {
	error
	Signal() os.Signal
}

// Session runs the stages of one command, one after the other.
type Session struct {
	opts Options

	rt      cluster.Runtime
	closeRT func() error
	// ctx is cancelled by a signal; cancel and stopSignals are set once
	// the signals are listened to.
	ctx         context.Context
	cancel      context.CancelCauseFunc
	stopSignals func()

	stages int // stages recorded
	status int // the command's exit status so far
}

// Open opens a session. Nothing starts before its first stage.
func Open(opts Options) *Session {
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	return &Session{opts: opts, status: Error}
}

// Stages returns how many stages the session recorded, run or not.
func (s *Session) Stages() int { return s.stages }

// Interrupted reports whether a signal has cancelled the session.
func (s *Session) Interrupted() bool { return s.ctx != nil && s.ctx.Err() != nil }

// listen starts listening to signals, once, and returns a context that
// ends with ctx and with a signal, and the function that releases it.
func (s *Session) listen(ctx context.Context) (context.Context, func()) {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
		if s.opts.Signals != nil {
			s.stopSignals = s.opts.Signals(s.cancel)
		}
	}
	run, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	return run, func() {
		stop()
		cancel(nil)
	}
}

// Start opens the runtime now, rather than at the first stage, and says
// on Stderr why it did not open; the caller then records a stage as
// NotRun.
func (s *Session) Start(ctx context.Context) error {
	if s.rt != nil {
		return nil
	}
	if s.opts.Runtime == nil {
		return errors.New("the session has no runtime to run stages on")
	}
	ctx, done := s.listen(ctx)
	defer done()
	rt, closeRT, err := s.opts.Runtime(ctx)
	if err != nil {
		fmt.Fprintf(s.opts.Stderr, "clstr: %v\n", err)
		return err
	}
	s.rt, s.closeRT = rt, closeRT
	return nil
}

// Run runs st on the session's runtime, with a fresh log folder, reports
// it to every reporter and returns its outcome. A runtime that does not
// start makes the stage NotRun.
func (s *Session) Run(ctx context.Context, st Stage) *Outcome {
	ctx, done := s.listen(ctx)
	defer done()
	var logs *runlog.Run
	var logDir string
	if s.opts.Root != "" {
		var err error
		if logs, err = runlog.Start(s.opts.Root); err != nil {
			fmt.Fprintf(s.opts.Stderr, "clstr: %v\n", err)
			return s.NotRun(st, "the run did not start", err)
		}
		logDir = filepath.Join(s.opts.Root, runlog.Dir)
	}
	if err := s.Start(ctx); err != nil {
		s.closeLogs(logs)
		return s.NotRun(st, "the run did not start", err)
	}
	o := s.run(ctx, st, logs, logDir)
	s.closeLogs(logs)
	return s.record(o)
}

func (s *Session) run(ctx context.Context, st Stage, logs *runlog.Run, logDir string) *Outcome {
	seed := s.opts.Seed
	if seed == 0 {
		seed = engine.NewSeed()
	}
	if s.opts.Live != nil {
		s.opts.Live.Started(st, s.opts.Target, seed)
	}
	ro := engine.RunOptions{Runtime: s.rt, Filter: s.opts.Filter, Seed: seed, ArtifactDir: logDir, Disk: s.opts.Disk}
	if s.opts.Live != nil {
		ro.Reporter = s.opts.Live
	}
	o := &Outcome{Stage: st, Started: time.Now(), LogDir: logDir, Logs: logDir}
	if logs != nil {
		ro.Events = logs.Events
	}
	o.Result = st.Suite().Run(ctx, ro)
	o.Ended = time.Now()
	if logs != nil {
		o.Events = logs.Events.Events()
		if !runlog.NodeStarted(logs.Events) {
			o.Logs = "" // the logs there are the last run's
		}
	}
	o.Verdict = o.Result.Verdict()
	o.Interrupted = interruptedBy(ctx, o.Result)
	if o.Result.Err != nil {
		o.Stopped = StopReason(o.Result.Err)
	}
	switch {
	case o.Interrupted != nil:
		o.Status = Error
	case o.Verdict == engine.VerdictPass:
		o.Status = Pass
	case o.Verdict == engine.VerdictFail:
		o.Status = Fail
	default:
		o.Status = Error
	}
	return o
}

func (s *Session) closeLogs(logs *runlog.Run) {
	if logs == nil {
		return
	}
	if err := logs.Close(); err != nil {
		fmt.Fprintf(s.opts.Stderr, "clstr: %v\n", err)
	}
}

// NotRun records that st could not run at all because of err; what says
// what stopped it ("the script did not load"). Saying so on the terminal
// is the caller's: the session reports it everywhere else.
func (s *Session) NotRun(st Stage, what string, err error) *Outcome {
	res := &engine.Result{Err: err, Tests: make([]engine.TestResult, len(st.TestNames()))}
	for i, name := range st.TestNames() {
		res.Tests[i] = engine.TestResult{Name: name, Status: engine.TestNotRun}
	}
	now := time.Now()
	return s.record(&Outcome{Stage: st, Started: now, Ended: now, Result: res, Verdict: engine.VerdictError,
		Stopped: what, NotRun: true, Status: Error})
}

// record tells every reporter of o and has each write its report.
func (s *Session) record(o *Outcome) *Outcome {
	reporters := s.opts.Reporters
	for _, r := range reporters {
		r.Stage(o)
	}
	status := o.Status
	for _, r := range reporters {
		status = r.Flush(status)
	}
	o.Status = status
	s.stages++
	s.status = status
	return o
}

// Close stops listening to signals, releases the runtime and returns the
// command's exit status: the last stage's, or Error when none was
// recorded.
func (s *Session) Close() int {
	if s.stopSignals != nil {
		s.stopSignals()
		s.stopSignals = nil
	}
	if s.cancel != nil {
		s.cancel(nil)
	}
	if s.closeRT != nil {
		if err := s.closeRT(); err != nil {
			fmt.Fprintf(s.opts.Stderr, "clstr: %v\n", err)
		}
		s.closeRT = nil
	}
	return s.status
}

// interruptedBy returns the signal that stopped the run of res, or nil
// when none did: a run that a signal reached only as it tore the cluster
// down, after its verdict, keeps that verdict.
func interruptedBy(ctx context.Context, res *engine.Result) os.Signal {
	var in Interruption
	if !errors.As(context.Cause(ctx), &in) || res.Err == nil {
		return nil
	}
	if errors.As(res.Err, new(Interruption)) || errors.Is(res.Err, context.Canceled) {
		return in.Signal()
	}
	return nil
}

// StopReason says in a few words what a run's error outside any test
// (engine.Result.Err) stopped: "the cluster did not start".
func StopReason(err error) string {
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "setup: "):
		return "setup failed"
	case strings.HasPrefix(msg, "create cluster: "):
		return "the cluster did not start"
	case strings.Contains(msg, "did not answer GET /health"):
		return "the cluster did not become healthy"
	case strings.HasPrefix(msg, "run interrupted"):
		return "interrupted"
	}
	return "the run stopped"
}

// Cause is the error of a run outside any test as it is shown under its
// StopReason: without the "setup: " the engine puts before a setup step's
// failure, which the reason already says.
func Cause(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "setup: ") {
		return u
	}
	return err
}
