// Package attest is clstr's test engine: it runs a user's program as a
// cluster of nodes, sends them HTTP requests, checks the answers and
// injects faults.
//
// A suite declares its cluster and registers tests in order:
//
//	New(WithCluster(3)).
//		Test("PUT Stores Values", func(do *Do) {
//			do.PUT(Node("n1"), "/kv/key", "value").
//				Status(Is(200)).
//				Hint("Register PUT /kv/{key} and answer 200.").
//				Run()
//		})
//
// Suite.Run starts the cluster through a cluster.Runtime, waits until every
// node answers GET /health, and runs the tests one after the other, sharing
// the cluster, until the first failure. Checks and node operations stop a
// test by panicking with a *Failure, which Run recovers; front ends that
// need errors as values (the Starlark binding) use Check.Exec and Do.Ops.
package attest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/history"
)

// Defaults of a suite's configuration.
const (
	DefaultNodeStartTimeout    = 10 * time.Second
	DefaultNodeShutdownTimeout = 5 * time.Second
	DefaultRetryTimeout        = 5 * time.Second
	DefaultRequestTimeout      = 5 * time.Second
	DefaultPollInterval        = 100 * time.Millisecond
	DefaultConcurrencyLimit    = 64
)

// Config is a suite's configuration. New starts from DefaultConfig.
type Config struct {
	// Nodes is the number of nodes of the initial configuration, named
	// n1 … nN, which start with the run.
	Nodes int
	// Spare is the number of nodes outside the initial configuration,
	// named after them (n(N+1) …): they are ready to start but stopped
	// until a test starts them (Do.Start), and their environment tells
	// them they are not members (CLUSTER, see CONTRACT.md).
	Spare int
	// NodeStartTimeout is how long a node has to answer GET /health with
	// 200 after it starts.
	NodeStartTimeout time.Duration
	// NodeShutdownTimeout is how long Stop waits after SIGTERM before it
	// sends SIGKILL.
	NodeShutdownTimeout time.Duration
	// RetryTimeout is the default timeout of Eventually and Consistently.
	RetryTimeout time.Duration
	// RequestTimeout bounds each HTTP request.
	RequestTimeout time.Duration
	// Settle is a pause after Partition, Heal, Impair and Repair, to let
	// the cluster notice.
	Settle time.Duration
	// ClusterSettle is a pause after Partition and Heal only, as the
	// original attest's cluster settle duration, for in-flight RPCs to
	// drain and timeouts to expire; those two wait the longer of it and
	// Settle.
	ClusterSettle time.Duration
	// PollInterval is the pause between attempts of Eventually and
	// Consistently.
	PollInterval time.Duration
	// ConcurrencyLimit is how many calls of a Concurrently run at once.
	ConcurrencyLimit int
	// MaxBody bounds the bytes of a response body the engine reads; a
	// longer body is no answer. 0 means DefaultMaxBody.
	MaxBody int64
}

func (c Config) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

// DefaultConfig returns the configuration of New(): one node, a node start
// timeout of 10s, a shutdown timeout of 5s, retry and request timeouts of
// 5s, no settle time, a poll interval of 100ms and a concurrency limit of 64.
func DefaultConfig() Config {
	return Config{
		Nodes:               1,
		NodeStartTimeout:    DefaultNodeStartTimeout,
		NodeShutdownTimeout: DefaultNodeShutdownTimeout,
		RetryTimeout:        DefaultRetryTimeout,
		RequestTimeout:      DefaultRequestTimeout,
		PollInterval:        DefaultPollInterval,
		ConcurrencyLimit:    DefaultConcurrencyLimit,
	}
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 {
		errs = append(errs, fmt.Errorf("cluster size %d: need at least one node", c.Nodes))
	}
	if c.Spare < 0 {
		errs = append(errs, fmt.Errorf("spare nodes %d: cannot be negative", c.Spare))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"node start timeout", c.NodeStartTimeout},
		{"node shutdown timeout", c.NodeShutdownTimeout},
		{"retry timeout", c.RetryTimeout},
		{"request timeout", c.RequestTimeout},
		{"poll interval", c.PollInterval},
	} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", d.name, d.d))
		}
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("settle time %v: cannot be negative", c.Settle))
	}
	if c.ClusterSettle < 0 {
		errs = append(errs, fmt.Errorf("cluster settle duration %v: cannot be negative", c.ClusterSettle))
	}
	if c.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("response size limit %d: cannot be negative", c.MaxBody))
	}
	if c.ConcurrencyLimit < 1 {
		errs = append(errs, fmt.Errorf("concurrency limit %d: need at least 1", c.ConcurrencyLimit))
	}
	return errors.Join(errs...)
}

// Option changes a suite's configuration.
type Option func(*Config)

// WithCluster declares a cluster of n nodes named n1 … nN.
func WithCluster(n int) Option { return func(c *Config) { c.Nodes = n } }

// WithSpare adds n spare nodes after the cluster's: outside the initial
// configuration and stopped until a test starts them.
func WithSpare(n int) Option { return func(c *Config) { c.Spare = n } }

// WithNodeStartTimeout sets how long a node has to answer GET /health with
// 200 after it starts (default 10s).
func WithNodeStartTimeout(d time.Duration) Option {
	return func(c *Config) { c.NodeStartTimeout = d }
}

// WithNodeStartupTimeout is WithNodeStartTimeout, under the original
// attest's name.
func WithNodeStartupTimeout(d time.Duration) Option { return WithNodeStartTimeout(d) }

// WithNodeShutdownTimeout sets how long Stop waits after SIGTERM before
// SIGKILL (default 5s).
func WithNodeShutdownTimeout(d time.Duration) Option {
	return func(c *Config) { c.NodeShutdownTimeout = d }
}

// WithRetryTimeout sets the default timeout of Eventually and Consistently
// (default 5s).
func WithRetryTimeout(d time.Duration) Option {
	return func(c *Config) { c.RetryTimeout = d }
}

// WithRequestTimeout sets the timeout of each HTTP request (default 5s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Config) { c.RequestTimeout = d }
}

// WithSettle sets a pause after Partition, Heal, Impair and Repair
// (default none).
func WithSettle(d time.Duration) Option { return func(c *Config) { c.Settle = d } }

// WithClusterSettleDuration sets how long Partition and Heal wait after
// changing the network, for in-flight RPCs to drain and timeouts to expire
// (default none), as in the original attest. Unlike WithSettle it does not
// apply to Impair and Repair.
func WithClusterSettleDuration(d time.Duration) Option {
	return func(c *Config) { c.ClusterSettle = d }
}

// WithPollInterval sets the pause between attempts of Eventually and
// Consistently (default 100ms).
func WithPollInterval(d time.Duration) Option {
	return func(c *Config) { c.PollInterval = d }
}

// WithConcurrencyLimit sets how many calls of a Concurrently run at once
// (default 64).
func WithConcurrencyLimit(n int) Option {
	return func(c *Config) { c.ConcurrencyLimit = n }
}

// WithMaxBody bounds the bytes of a response body the engine reads
// (default 64 MiB); a longer body counts as no answer.
func WithMaxBody(n int64) Option { return func(c *Config) { c.MaxBody = n } }

// Suite is a cluster configuration, setup steps and tests in order.
type Suite struct {
	cfg    Config
	setups []func(*Do)
	tests  []testCase
}

type testCase struct {
	name string
	fn   func(*Do)
}

// New returns an empty suite configured by opts.
func New(opts ...Option) *Suite {
	s := &Suite{cfg: DefaultConfig()}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

// Setup adds fn to the steps run once the cluster is ready, before the first
// test; steps run in the order added, whatever Run's filter. A failing step
// stops the run before any test.
func (s *Suite) Setup(fn func(*Do)) *Suite {
	s.setups = append(s.setups, fn)
	return s
}

// Test adds a test; tests run in the order added.
func (s *Suite) Test(name string, fn func(*Do)) *Suite {
	s.tests = append(s.tests, testCase{name, fn})
	return s
}

// Config returns the suite's configuration.
func (s *Suite) Config() Config { return s.cfg }

// TestNames returns the names of the tests in order.
func (s *Suite) TestNames() []string {
	names := make([]string, len(s.tests))
	for i, t := range s.tests {
		names[i] = t.name
	}
	return names
}

// RunOptions says where and how to run a suite.
type RunOptions struct {
	// Runtime creates the cluster. Required.
	Runtime cluster.Runtime
	// Events receives the run's events (TEST, CLUSTER READY, CONCURRENTLY,
	// LOG) and is handed to the runtime for its own. It may be nil.
	Events *cluster.EventLog
	// Reporter is told about the run as it goes. It may be nil.
	Reporter Reporter
	// Filter, when set, runs only the tests whose names it matches; the
	// others are reported as skipped. Setup steps always run.
	Filter *regexp.Regexp
	// Verbose adds a stack trace to the failure of a test that panicked
	// with something other than a failure.
	Verbose bool
	// Seed is where every random stream of the run (Do.Rand) starts: a run
	// with the same seed draws the same values. Zero picks one at random;
	// Result.Seed says which.
	Seed uint64
	// ArtifactDir is where checks write files for people to look at, such
	// as the visualization of a history that is not linearizable. Empty
	// means a new temporary directory.
	ArtifactDir string
}

// TestStatus is what became of a test.
type TestStatus int

// The statuses of a test.
const (
	// TestNotRun: the run stopped before it (a failure, a setup or cluster
	// error, or cancellation).
	TestNotRun TestStatus = iota
	// TestPassed: it ran to the end.
	TestPassed
	// TestFailed: it stopped with an error.
	TestFailed
	// TestSkipped: RunOptions.Filter left it out.
	TestSkipped
)

// String returns "passed", "failed", "skipped" or "not run".
func (s TestStatus) String() string {
	switch s {
	case TestPassed:
		return "passed"
	case TestFailed:
		return "failed"
	case TestSkipped:
		return "skipped"
	}
	return "not run"
}

// TestResult is the result of one test.
type TestResult struct {
	Name     string
	Status   TestStatus
	Duration time.Duration
	// Err is why the test failed: usually a *Failure.
	Err error
}

// Result is the result of a run.
type Result struct {
	// Tests holds every test of the suite, in order.
	Tests []TestResult
	// Err is what stopped the run outside any test: an invalid
	// configuration, a cluster that did not start or become healthy
	// (a *cluster.TargetError when the target is to blame), a failed setup
	// step, or cancellation. Nil otherwise.
	Err error
	// CleanupErr is an error closing the cluster. It never replaces the
	// failure that came first.
	CleanupErr error
	// Duration is the time the whole run took, cluster start and
	// cleanup included.
	Duration time.Duration
	// History is every request the tests made and every fault they
	// injected, on the run's clock (see package history).
	History history.History
	// Seed is the seed the run drew from (RunOptions.Seed, or the one
	// picked for it).
	Seed uint64
}

// Passed reports whether the run got through setup and every test it ran
// passed. A cleanup error alone does not fail a run.
func (r *Result) Passed() bool {
	return r.Err == nil && r.FirstError() == nil
}

// FirstError returns the error that stopped the run: Err, or else the error
// of the failed test; nil if there is none.
func (r *Result) FirstError() error {
	if r.Err != nil {
		return r.Err
	}
	for _, t := range r.Tests {
		if t.Status == TestFailed {
			return t.Err
		}
	}
	return nil
}

// Verdict classifies a run for an exit status.
type Verdict int

// The verdicts of a run.
const (
	// VerdictPass: everything that ran passed.
	VerdictPass Verdict = iota
	// VerdictFail: the target failed a test, or did not start or become
	// healthy.
	VerdictFail
	// VerdictError: clstr could not judge the target: a bad configuration,
	// a runtime or environment error, or a cancelled run.
	VerdictError
)

// String returns "pass", "fail" or "error".
func (v Verdict) String() string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictFail:
		return "fail"
	}
	return "error"
}

// Verdict tells whether the run passed, the target failed, or clstr could
// not judge.
func (r *Result) Verdict() Verdict {
	err := r.FirstError()
	switch {
	case err == nil:
		return VerdictPass
	case Blame(err):
		return VerdictFail
	}
	return VerdictError
}

// Blame reports whether err is the target's fault: a failed expectation, a
// test that panicked or called Fail, or a *cluster.TargetError. It is false
// for errors of clstr, its environment or the suite — runtime errors,
// cancellation, an invalid configuration, an unknown node name, an invalid
// impairment or argument — after which nothing can be said about the
// target.
func Blame(err error) bool {
	var te *cluster.TargetError
	var ee *envError
	switch {
	case errors.As(err, &te):
		return true
	case errors.As(err, &ee):
		return false
	}
	var f *Failure
	return errors.As(err, &f)
}

// envError marks an error of clstr, its environment or the suite, for
// Blame.
type envError struct{ err error }

func (e *envError) Error() string { return e.err.Error() }
func (e *envError) Unwrap() error { return e.err }

// env marks err as not the target's fault, unless it is a TargetError.
func env(err error) error {
	var te *cluster.TargetError
	if err == nil || errors.As(err, &te) {
		return err
	}
	return &envError{err}
}

// closeTimeout bounds closing the cluster beyond the nodes' own shutdown
// timeout.
const closeTimeout = 30 * time.Second

// Run runs the suite on a cluster made by opts.Runtime: it creates the
// cluster, waits until every node answers GET /health with 200, runs the
// setup steps and then the tests (those opts.Filter matches) in order, and
// stops at the first failure. It always closes the cluster — after a pass, a
// failure, a panic or cancellation of ctx — and never panics itself.
func (s *Suite) Run(ctx context.Context, opts RunOptions) (res *Result) {
	start := time.Now()
	res = &Result{Tests: make([]TestResult, len(s.tests))}
	for i, t := range s.tests {
		res.Tests[i].Name = t.name
		if opts.Filter != nil && !opts.Filter.MatchString(t.name) {
			res.Tests[i].Status = TestSkipped
		}
	}
	defer func() { res.Duration = time.Since(start) }()
	if err := s.cfg.Validate(); err != nil {
		res.Err = env(fmt.Errorf("suite: %w", err))
		return res
	}
	if opts.Runtime == nil {
		res.Err = env(errors.New("suite: no runtime to run the cluster on"))
		return res
	}

	if opts.Seed == 0 {
		opts.Seed = NewSeed()
	}
	res.Seed = opts.Seed
	r := newRun(ctx, s.cfg, opts)
	defer r.interrupt(context.Canceled)
	defer r.transport.CloseIdleConnections()
	defer func() { res.History = r.hist.History(nil, nil); res.History.Events = r.historyEvents(nil) }()
	// A panic outside the test bodies is a bug of the engine or the
	// runtime; it still must not escape, and the cluster still closes.
	defer func() {
		if v := recover(); v != nil {
			err := fmt.Errorf("internal error: %v", v)
			if opts.Verbose {
				err = fmt.Errorf("%w\n%s", err, debug.Stack())
			}
			res.Err = env(err)
		}
	}()

	step := fmt.Sprintf("starting %d node(s)", s.cfg.Nodes)
	if s.cfg.Spare > 0 {
		step += fmt.Sprintf(", %d spare", s.cfg.Spare)
	}
	r.rep.Step(step)
	cl, err := opts.Runtime.Create(ctx, cluster.Spec{
		Nodes:           s.cfg.Nodes,
		Spare:           s.cfg.Spare,
		ShutdownTimeout: s.cfg.NodeShutdownTimeout,
		Events:          r.events,
	})
	if err != nil {
		res.Err = env(fmt.Errorf("create cluster: %w", err))
		return res
	}
	r.cl = cl
	r.nodes = cl.Nodes()
	defer func() { res.CleanupErr = r.close(ctx) }()

	r.rep.Step("waiting for GET /health")
	if err := r.waitHealthy(ctx, r.nodes[:min(s.cfg.Nodes, len(r.nodes))]); err != nil {
		res.Err = r.interrupted(err)
		return res
	}
	r.events.Add("", "CLUSTER READY")

	for _, fn := range s.setups {
		r.rep.Step("setup")
		if err := r.runBody("setup", fn); err != nil {
			res.Err = r.interrupted(fmt.Errorf("setup: %w", err))
			return res
		}
	}

	for i, t := range s.tests {
		if res.Tests[i].Status == TestSkipped {
			continue
		}
		if err := ctx.Err(); err != nil {
			res.Err = r.interrupted(err)
			return res
		}
		r.events.Add("", "TEST: %s", t.name)
		r.rep.TestStarted(t.name)
		began := time.Now()
		err := r.runBody(t.name, t.fn)
		tr := &res.Tests[i]
		tr.Duration = time.Since(began)
		tr.Status = TestPassed
		if err != nil {
			tr.Status, tr.Err = TestFailed, err
		}
		r.rep.TestFinished(*tr)
		if err != nil {
			if ctx.Err() != nil {
				res.Err = r.interrupted(ctx.Err())
			}
			return res
		}
	}
	return res
}

// interrupted replaces err by a cancellation error when the run was
// cancelled, since whatever failed then failed because of it; by the
// cause given to Do.Interrupt when it was interrupted, unless err is
// already a test's failure.
func (r *run) interrupted(err error) error {
	if r.outer.Err() != nil {
		return env(fmt.Errorf("run interrupted: %w", context.Cause(r.outer)))
	}
	var f *Failure
	if r.ctx.Err() != nil && !errors.As(err, &f) {
		return env(context.Cause(r.ctx))
	}
	return err
}

// close closes the cluster with a context of its own, so that a cancelled
// run still cleans up.
func (r *run) close(ctx context.Context) (err error) {
	r.rep.Step("closing the cluster")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx),
		closeTimeout+r.cfg.NodeShutdownTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("close cluster: panic: %v", v)
		}
	}()
	// As before a stop (see Ops.halt): idle connections must not hold up
	// the nodes' graceful shutdown.
	r.transport.CloseIdleConnections()
	if err := r.cl.Close(cctx); err != nil {
		return fmt.Errorf("close cluster: %w", err)
	}
	return nil
}

// runBody runs a test body or setup step, turning whatever it panics with
// into the error it returns. This is the one place where a test's panics
// are recovered.
func (r *run) runBody(test string, fn func(*Do)) (err error) {
	d := &Do{r: r, test: test, client: history.NoClient, rng: r.stream(test, "test", 0, 0), forks: new(forkCounter)}
	defer func() {
		if v := recover(); v != nil {
			err = r.panicked(test, v)
		}
	}()
	fn(d)
	return nil
}
