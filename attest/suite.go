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
// test by panicking with an *engine.Failure, which Run recovers; front ends
// that need errors as values (the Starlark binding) use Check.Exec and
// Do.Ops.
//
// A suite is written with this package dot-imported, as in the original
// attest, so it exports only the names a suite is written with. What a
// front end needs to run suites and report on them — the run's options and
// result, failures, responses, configuration, progress — is in package
// engine, and a suite may declare types of those names of its own.
package attest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// Defaults of a suite's configuration, as in the original attest; see
// engine.DefaultConfig for the others.
const (
	DefaultNodeStartTimeout    = engine.DefaultNodeStartTimeout
	DefaultNodeShutdownTimeout = engine.DefaultNodeShutdownTimeout
	DefaultRetryTimeout        = engine.DefaultRetryTimeout
	DefaultRequestTimeout      = engine.DefaultRequestTimeout
)

// Option changes a suite's configuration.
type Option func(*engine.Config)

// WithCluster declares a cluster of n nodes named n1 … nN.
func WithCluster(n int) Option { return func(c *engine.Config) { c.Nodes = n } }

// WithSpare adds n spare nodes after the cluster's: outside the initial
// configuration and stopped until a test starts them.
func WithSpare(n int) Option { return func(c *engine.Config) { c.Spare = n } }

// WithNodeStartTimeout sets how long a node has to answer GET /health with
// 200 after it starts (default 10s).
func WithNodeStartTimeout(d time.Duration) Option {
	return func(c *engine.Config) { c.NodeStartTimeout = d }
}

// WithNodeStartupTimeout is WithNodeStartTimeout, under the original
// attest's name.
func WithNodeStartupTimeout(d time.Duration) Option { return WithNodeStartTimeout(d) }

// WithNodeShutdownTimeout sets how long Stop waits after SIGTERM before
// SIGKILL (default 5s).
func WithNodeShutdownTimeout(d time.Duration) Option {
	return func(c *engine.Config) { c.NodeShutdownTimeout = d }
}

// WithRetryTimeout sets the default timeout of Eventually and Consistently
// (default 5s).
func WithRetryTimeout(d time.Duration) Option {
	return func(c *engine.Config) { c.RetryTimeout = d }
}

// WithRequestTimeout sets the timeout of each HTTP request (default 5s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *engine.Config) { c.RequestTimeout = d }
}

// WithSettle sets a pause after Partition, Heal, Impair and Repair
// (default none).
func WithSettle(d time.Duration) Option { return func(c *engine.Config) { c.Settle = d } }

// WithClusterSettleDuration sets how long Partition and Heal wait after
// changing the network, for in-flight RPCs to drain and timeouts to expire
// (default none), as in the original attest. Unlike WithSettle it does not
// apply to Impair and Repair.
func WithClusterSettleDuration(d time.Duration) Option {
	return func(c *engine.Config) { c.ClusterSettle = d }
}

// WithPollInterval sets the pause between attempts of Eventually and
// Consistently (default 100ms).
func WithPollInterval(d time.Duration) Option {
	return func(c *engine.Config) { c.PollInterval = d }
}

// WithConcurrencyLimit sets how many calls of a Concurrently run at once
// (default 64).
func WithConcurrencyLimit(n int) Option {
	return func(c *engine.Config) { c.ConcurrencyLimit = n }
}

// WithMaxBody bounds the bytes of a response body the engine reads
// (default 64 MiB); a longer body counts as no answer.
func WithMaxBody(n int64) Option { return func(c *engine.Config) { c.MaxBody = n } }

// Suite is a cluster configuration, setup steps and tests in order.
type Suite struct {
	cfg    engine.Config
	setups []func(*Do)
	tests  []testCase
}

type testCase struct {
	name string
	fn   func(*Do)
}

// New returns an empty suite configured by opts.
func New(opts ...Option) *Suite {
	s := &Suite{cfg: engine.DefaultConfig()}
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
func (s *Suite) Config() engine.Config { return s.cfg }

// TestNames returns the names of the tests in order.
func (s *Suite) TestNames() []string {
	names := make([]string, len(s.tests))
	for i, t := range s.tests {
		names[i] = t.name
	}
	return names
}

// env marks err as not the target's fault, unless it is a TargetError.
func env(err error) error {
	var te *cluster.TargetError
	if err == nil || errors.As(err, &te) {
		return err
	}
	return &engine.EnvError{Err: err}
}

// closeTimeout bounds closing the cluster beyond the nodes' own shutdown
// timeout.
const closeTimeout = 30 * time.Second

// Run runs the suite on a cluster made by opts.Runtime: it creates the
// cluster, waits until every node answers GET /health with 200, runs the
// setup steps and then the tests (those opts.Filter matches) in order, and
// stops at the first failure. It always closes the cluster — after a pass, a
// failure, a panic or cancellation of ctx — and never panics itself.
func (s *Suite) Run(ctx context.Context, opts engine.RunOptions) (res *engine.Result) {
	start := time.Now()
	res = &engine.Result{Tests: make([]engine.TestResult, len(s.tests))}
	for i, t := range s.tests {
		res.Tests[i].Name = t.name
		if opts.Filter != nil && !opts.Filter.MatchString(t.name) {
			res.Tests[i].Status = engine.TestSkipped
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
		opts.Seed = engine.NewSeed()
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
		Durable:         s.cfg.Durable,
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
	r.events.Add(cluster.Event{Kind: cluster.EventReady})

	for _, fn := range s.setups {
		r.rep.Step("setup")
		if err := r.runBody("setup", fn); err != nil {
			res.Err = r.interrupted(fmt.Errorf("setup: %w", err))
			return res
		}
	}

	for i, t := range s.tests {
		if res.Tests[i].Status == engine.TestSkipped {
			continue
		}
		if err := ctx.Err(); err != nil {
			res.Err = r.interrupted(err)
			return res
		}
		r.events.Add(cluster.Event{Kind: cluster.EventTest, Detail: t.name})
		r.rep.TestStarted(t.name)
		began := time.Now()
		err := r.runBody(t.name, t.fn)
		tr := &res.Tests[i]
		tr.Duration = time.Since(began)
		tr.Status = engine.TestPassed
		if err != nil {
			tr.Status, tr.Err = engine.TestFailed, err
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
	var f *engine.Failure
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
	d := &Do{r: r, test: test, client: history.NoClient, rng: r.stream(test, "test", 0, 0), forks: new(forkCounter), built: new(builtChecks)}
	defer func() {
		if v := recover(); v != nil {
			err = r.panicked(test, v)
		}
	}()
	fn(d)
	if f := d.built.failure(test); f != nil {
		return f
	}
	return nil
}
