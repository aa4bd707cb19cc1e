package attest

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// run is the state of one Suite.Run, shared by every Do of the run.
type run struct {
	// ctx is what every wait of the run waits on: the caller's context,
	// also cancelled by Do.Interrupt; outer is the caller's alone.
	ctx       context.Context
	outer     context.Context
	interrupt context.CancelCauseFunc
	cfg       engine.Config
	events    *cluster.EventLog
	rep       *reporter

	verbose bool
	// cl and nodes are set once the cluster exists, before any test.
	cl    cluster.Cluster
	nodes []string

	// One client for the whole run, so connections are reused; sized for
	// Concurrently at the concurrency limit.
	transport *http.Transport
	client    *http.Client

	// rec collects request latencies while a Concurrently runs.
	rec atomic.Pointer[recorder]

	// hist records every request of a test and, through events, every
	// fault; seed is where every random stream starts; artifacts is where
	// checks write files (visualizations), "" for a temporary directory.
	hist        *history.Recorder
	seed        uint64
	artifactsMu sync.Mutex // guards artifacts
	artifacts   string
	// disk bounds the files checks write; visualMu makes one check at a
	// time write a visualization.
	disk     *artifact.Quota
	visualMu sync.Mutex
	// unrecorded switches recording off, for a benchmark of its cost.
	unrecorded atomic.Bool

	// trafficStart is when the run began counting traffic (Do.Traffic);
	// zero before.
	trafficMu    sync.Mutex // guards trafficStart
	trafficStart time.Time
}

func newRun(ctx context.Context, cfg engine.Config, opts engine.RunOptions) *run {
	t := &http.Transport{
		Proxy: nil, // nodes are on this host; never go through a proxy
		DialContext: (&net.Dialer{
			Timeout:   cfg.RequestTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: cfg.ConcurrencyLimit + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	events := opts.Events
	if events == nil {
		// Histories take their events from the log, so keep one in memory.
		events = cluster.NewEventLog(nil)
	}
	inner, interrupt := context.WithCancelCause(ctx)
	return &run{
		ctx:       inner,
		outer:     ctx,
		interrupt: interrupt,
		cfg:       cfg,
		events:    events,
		hist:      history.NewRecorder(),
		seed:      opts.Seed,
		artifacts: opts.ArtifactDir,
		disk:      opts.Disk,
		rep:       newReporter(opts.Reporter),
		verbose:   opts.Verbose,
		transport: t,
		client: &http.Client{
			Transport: t,
			// A redirect is an answer to check, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}
