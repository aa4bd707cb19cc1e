// Package engine holds the types through which a front end drives package
// attest and reads what happened: a suite's configuration, the options of
// a run and its result, failures, responses, the values matchers examine,
// timings and live progress.
//
// They live apart from package attest, whose exported names are those a
// suite is written with, so that a suite that dot-imports attest, as the
// original attest reference recommends, can declare types such as
// Response, Config or Result of its own. A suite written in Go rarely
// needs this package; the Starlark binding and the clstr command use it
// to run suites and report on them.
package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// Defaults of a suite's configuration.
const (
	DefaultNodeStartTimeout    = 10 * time.Second
	DefaultNodeShutdownTimeout = 5 * time.Second
	DefaultRetryTimeout        = 5 * time.Second
	DefaultRequestTimeout      = 5 * time.Second
	DefaultPollInterval        = 100 * time.Millisecond
	DefaultConcurrencyLimit    = 64
	// DefaultMaxBody bounds the response body the engine reads, unless
	// Config.MaxBody says otherwise.
	DefaultMaxBody = 64 << 20
)

// DefaultCheckTimeout bounds a linearizability check unless the caller
// gives another bound.
const DefaultCheckTimeout = 30 * time.Second

// Config is a suite's configuration: attest.New starts from DefaultConfig,
// and the suite's options change it.
type Config struct {
	// Nodes is the number of nodes of the initial configuration, named
	// n1 … nN, which start with the run.
	Nodes int
	// Spare is the number of nodes outside the initial configuration,
	// named after them (n(N+1) …): they are ready to start but stopped
	// until a test starts them (attest.Do.Start), and their environment tells
	// them they are not members (CLUSTER, see CONTRACT.md).
	Spare int
	// Durable serves every node's DATA_DIR so that tests can make a node
	// lose power (attest.Do.PowerLoss).
	Durable bool
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

// DefaultConfig returns the configuration of attest.New(): one node, a
// node start timeout of 10s, a shutdown timeout of 5s, retry and request
// timeouts of 5s, no settle time, a poll interval of 100ms and a
// concurrency limit of 64.
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

// RunOptions says where and how to run a suite (attest.Suite.Run).
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
	// Seed is where every random stream of the run (attest.Do.Rand)
	// starts: a run with the same seed draws the same values. Zero picks
	// one at random; Result.Seed says which.
	Seed uint64
	// ArtifactDir is where checks write files for people to look at, such
	// as the visualization of a history that is not linearizable. Empty
	// means a new temporary directory.
	ArtifactDir string
	// Disk, if not nil, bounds the bytes the files that checks write
	// hold; a check that would pass it fails as clstr's failure.
	Disk *artifact.Quota
}

// NewSeed returns a seed for a run that was given none: random, never 0,
// and small enough to type back after --seed.
func NewSeed() uint64 { return 1 + rand.Uint64N(1<<48) }
