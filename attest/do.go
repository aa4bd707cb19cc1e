package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/attest/internal/render"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// H is a set of request headers: do.POST(Node("n1"), "/api", body,
// H{"Content-Type": "application/json"}).
type H map[string]string

// logTailLines is how many of a node's last log lines a failure shows.
const logTailLines = 20

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

// FetchResponse is a node's answer to Do.Fetch: the engine.Response, with
// its body as bytes, as in the original attest, so that
// json.Unmarshal(r.Body, &v) and string(r.Body) both work. The body as
// text stays r.Response.Body, which JSON reads.
type FetchResponse struct {
	*engine.Response
	// Body is the response body.
	Body []byte
}

// send makes one request to a node and reads the whole answer. When who is
// not nil the request is one of who's: it goes into the history and into
// Concurrently's latency statistics.
func (r *run) send(ctx context.Context, who *Do, node, method, path string, body []byte, header H) *engine.Response {
	resp := &engine.Response{Node: node, Method: method}
	base, err := r.cl.URL(node)
	if err != nil {
		resp.Err = err
		return resp
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	resp.URL = base + path
	if err := sameHost(base, resp.URL); err != nil {
		resp.Err = err
		return resp
	}
	limit := r.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl))
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	invoke := r.hist.Now()
	hr, resent, err := r.roundTrip(ctx, method, resp.URL, body, header)
	if err == nil {
		var b []byte
		limit := maxBody(r.cfg)
		b, err = io.ReadAll(io.LimitReader(hr.Body, limit+1))
		hr.Body.Close()
		resp.Status, resp.Header, resp.Body = hr.StatusCode, hr.Header, string(b)
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("body larger than the response size limit of %s", byteSize(limit))
		}
	}
	complete := r.hist.Now()
	resp.Duration = complete - invoke
	if err != nil {
		resp.Err = r.requestError(err, limit)
	}
	if who != nil {
		if !r.unrecorded.Load() {
			who.record(resp, path, body, invoke, complete, resent)
		}
		if rec := r.rec.Load(); rec != nil {
			rec.add(node, resp.Duration, resp.Err != nil)
		}
	}
	return resp
}

// maxBody is the bytes of a response body the engine reads.
func maxBody(c engine.Config) int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return engine.DefaultMaxBody
}

// maxResends bounds how often one request is sent again after a reused
// connection was found closed.
const maxResends = 3

// roundTrip sends one request and returns the node's answer. A keep-alive
// connection that the node closed while it sat idle in the pool (a server's
// idle or header timeout) can be picked for a request in the instant before
// the close arrives: the request is written and the connection ends without
// a byte of answer. The node did not see that request (unless it crashed
// while it handled it), and a correct node must not fail for it, so a request of an idempotent method (RFC 9110: GET,
// HEAD, OPTIONS, PUT, DELETE) that meets a closed reused connection is sent
// again, on another connection, up to maxResends times. Go's transport does
// this on its own for GET, HEAD and OPTIONS only. resent says whether the
// answer is to a repeated request: the history then takes a refusal as an
// unknown outcome.
func (r *run) roundTrip(ctx context.Context, method, url string, body []byte, header H) (hr *http.Response, resent bool, err error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return nil, false, err
		}
		for k, v := range header {
			if strings.EqualFold(k, "Host") {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
		hr, err = r.client.Do(req)
		if err == nil || attempt == maxResends || !reused || !idempotent(method) || !closedConn(err) || ctx.Err() != nil {
			return hr, attempt > 0, err
		}
	}
}

// idempotent says whether requests of method may be sent twice with the
// effect of once (RFC 9110, 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// closedConn says whether err is a connection that ended before any answer.
// net/http says "server closed idle connection" when it saw the close first;
// that error is not exported.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// sameHost checks that a request made by joining a node's base URL and a
// path still goes to the node: a path such as "@example.com/" would
// otherwise turn the node's address into user info and aim the request at
// another host.
func sameHost(base, full string) error {
	b, err := url.Parse(base)
	if err != nil {
		return err
	}
	u, err := url.Parse(full)
	if err != nil {
		return fmt.Errorf("bad request path: %w", err)
	}
	if u.Host != b.Host || u.User != nil || u.Scheme != b.Scheme {
		return fmt.Errorf("bad request path %q: requests go to a node by path only, never to another host", strings.TrimPrefix(full, base))
	}
	return nil
}

// byteSize renders n bytes as "64 MiB", "512 KiB" or "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// requestError makes a transport error read well beside the URL that the
// failure output shows anyway.
func (r *run) requestError(err error, limit time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
		return fmt.Errorf("no response within %v: %w", render.Duration(limit), err)
	}
	return err
}

// Do is what a test body gets: it makes requests, manages nodes and
// injects faults on the run's cluster. Its methods are safe to call from
// the goroutines of Concurrently.
//
// Methods that can fail stop the test by panicking with an
// *engine.Failure, which Suite.Run recovers; Ops has the same operations
// returning errors.
type Do struct {
	r    *run
	test string

	// client is the history's client id of this Do's requests; sink, if
	// set, also collects them for a Clients call; halt, if set, ends the
	// sleeps of a client or nemesis; rng is this Do's random stream; forks
	// counts the test's Clients calls.
	client int
	sink   *opSink
	halt   context.Context
	rng    *rand.Rand
	forks  *forkCounter
	// built is shared by the test's Do and its forks.
	built *builtChecks
}

// Context returns the run's context; it is cancelled when the run is, or
// interrupted.
func (d *Do) Context() context.Context { return d.r.ctx }

// Interrupt ends the run because of cause: every wait of the engine, in
// this test and its clients (a settle, a node start, a request, the polls
// of eventually), returns at once, and no test runs after this one. The
// test's own failure says why; an operation the interruption ends fails
// with cause. A front end calls it when it must stop a test that may be
// waiting on the engine, such as when a sandboxed script reaches a limit.
func (d *Do) Interrupt(cause error) { d.r.interrupt(cause) }

// Test returns the name of the running test ("setup" in a setup step).
func (d *Do) Test() string { return d.test }

// Config returns the suite's configuration.
func (d *Do) Config() engine.Config { return d.r.cfg }

// Nodes returns the names of the nodes that are running, in cluster order,
// as the original attest does: a stopped or killed node is left out until
// it starts again. AllNodeNames returns every name.
func (d *Do) Nodes() []string {
	var names []string
	for _, n := range d.r.nodes {
		if d.r.cl.Running(n) {
			names = append(names, n)
		}
	}
	return names
}

// AllNodeNames returns the names of every node of the cluster in order,
// running or not: n1 … nN, spare nodes last.
func (d *Do) AllNodeNames() []string { return slices.Clone(d.r.nodes) }

// Names returns the names of the nodes sel selects now, in cluster order.
func (d *Do) Names(sel NodeSelector) []string {
	names, err := d.Ops(callerPos(1)).Names(sel)
	d.must(err)
	return names
}

// Running reports whether the named node is running.
func (d *Do) Running(name string) bool { return d.r.cl.Running(name) }

// Addr returns the node's address inside the cluster ("10.0.42.101:8080"),
// which is its ADDR and identity, as nodes report each other.
func (d *Do) Addr(name string) string {
	addr, err := d.Ops(callerPos(1)).Addr(name)
	d.must(err)
	return addr
}

// GET returns a check of a GET request to the nodes sel selects. The
// optional args are a body (string or []byte) and headers (H).
func (d *Do) GET(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodGet, sel, path, args)
}

// PUT returns a check of a PUT request; args as for GET.
func (d *Do) PUT(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPut, sel, path, args)
}

// POST returns a check of a POST request; args as for GET.
func (d *Do) POST(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPost, sel, path, args)
}

// DELETE returns a check of a DELETE request; args as for GET.
func (d *Do) DELETE(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodDelete, sel, path, args)
}

// PATCH returns a check of a PATCH request; args as for GET.
func (d *Do) PATCH(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPatch, sel, path, args)
}

// Request returns a check of a request with any method; args as for GET.
func (d *Do) Request(method string, sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(method, sel, path, args)
}

// Fetch sends one GET request to the named node and returns its answer, or
// nil if the node could not be reached. It checks nothing.
func (d *Do) Fetch(name, path string) *FetchResponse {
	resp, err := d.Ops(callerPos(1)).Fetch(name, path)
	d.must(err)
	return resp
}

// Send sends one request with any method to the named node and returns its
// answer, or nil if the node could not be reached; args are a body and
// headers as for GET, and a time.Duration that, when shorter, replaces the
// suite's request timeout. Like Fetch, it checks nothing; its request goes
// into the history like every other.
func (d *Do) Send(method, name, path string, args ...any) *FetchResponse {
	o := d.Ops(callerPos(1))
	var timeout time.Duration
	args = slices.DeleteFunc(slices.Clone(args), func(a any) bool {
		t, ok := a.(time.Duration)
		if ok {
			timeout = t
		}
		return ok
	})
	body, header, err := requestArgs(args)
	if err != nil {
		d.must(o.fail(method+" "+path+" on "+name, env(err)))
	}
	resp, err := o.Send(method, name, path, body, header, timeout)
	d.must(err)
	return resp
}

// DataSize returns the bytes of the files in the node's DATA_DIR, running
// or not. The runtime measures it from outside the node (the Docker
// runtime with a short-lived helper container that mounts the node's
// volume read-only), so nothing in the node's image is needed.
func (d *Do) DataSize(name string) int64 {
	n, err := d.Ops(callerPos(1)).DataSize(name)
	d.must(err)
	return n
}

// Start starts a stopped or killed node, or a spare node for the first
// time, and waits until it answers GET /health with 200, within the node
// start timeout.
func (d *Do) Start(name string) { d.must(d.Ops(callerPos(1)).Start(name)) }

// Stop sends the node SIGTERM and, if it has not exited within the shutdown
// timeout, SIGKILL; it returns once the node has exited.
func (d *Do) Stop(name string) { d.must(d.Ops(callerPos(1)).Stop(name)) }

// Kill sends the node SIGKILL and returns once it has exited.
func (d *Do) Kill(name string) { d.must(d.Ops(callerPos(1)).Kill(name)) }

// Restart stops the node, gracefully by default (as Stop) or, with
// syscall.SIGKILL, by crashing it (as Kill), then starts it as Start does.
func (d *Do) Restart(name string, sig ...syscall.Signal) {
	d.must(d.Ops(callerPos(1)).Restart(name, sig...))
}

// Partition cuts the network between the groups of nodes, both ways, and
// waits the settle time (the longer of WithSettle and
// WithClusterSettleDuration); a new partition replaces the previous one.
func (d *Do) Partition(groups ...[]string) { d.must(d.Ops(callerPos(1)).Partition(groups...)) }

// Heal removes every partition and every cut and waits the settle time,
// as Partition.
func (d *Do) Heal() { d.must(d.Ops(callerPos(1)).Heal()) }

// Impair applies the impairments to the outgoing traffic of the nodes sel
// selects, replacing any they had, and waits the settle time.
func (d *Do) Impair(sel NodeSelector, imps ...Impairment) {
	d.must(d.Ops(callerPos(1)).Impair(sel, imps...))
}

// Repair removes the impairments of the selected nodes, of every running
// node when no selector is given, and waits the settle time.
func (d *Do) Repair(sel ...NodeSelector) { d.must(d.Ops(callerPos(1)).Repair(sel...)) }

// Pause freezes the processes of the nodes sel selects, from outside:
// they get no CPU, their sockets stay open, and peers and requests see
// silence until Resume. Paused nodes are left out of AllNodes() like
// stopped ones; a request to one fails after the request timeout.
// Stopping or killing a paused node ends its pause.
func (d *Do) Pause(sel NodeSelector) { d.must(d.Ops(callerPos(1)).Pause(sel)) }

// Resume thaws the paused nodes sel selects (AllNodes() selects every
// paused node), or every paused node when no selector is given.
func (d *Do) Resume(sel ...NodeSelector) { d.must(d.Ops(callerPos(1)).Resume(sel...)) }

// Paused reports whether the named node is paused.
func (d *Do) Paused(name string) bool { return d.r.cl.Paused(name) }

// Cut drops every packet the nodes of src send to the nodes of dst, while
// the other direction flows, and waits the settle time. Cuts add up, and
// compose with partitions and impairments; Heal removes them all.
func (d *Do) Cut(src, dst NodeSelector) { d.must(d.Ops(callerPos(1)).Cut(src, dst)) }

// ImpairTowards is Impair for the traffic the nodes sel selects send to
// the nodes towards selects; their other traffic flows unimpaired. It
// replaces any impairments they had.
func (d *Do) ImpairTowards(sel, towards NodeSelector, imps ...Impairment) {
	d.must(d.Ops(callerPos(1)).ImpairTowards(sel, towards, imps...))
}

// Log writes a message into the run's event log, as "LOG: message".
func (d *Do) Log(format string, args ...any) {
	d.r.events.Add(cluster.Event{Kind: cluster.EventLogged, Detail: fmt.Sprintf(format, args...)})
}

// Fail stops the test with err as its failure.
func (d *Do) Fail(err error) {
	if err == nil {
		err = errors.New("failed")
	}
	f := asFailure(err)
	if f.Pos == "" {
		f.Pos = callerPos(1)
	}
	d.stop(f)
}

// Failf stops the test with a failure that says what fmt.Sprintf makes of
// format and args.
func (d *Do) Failf(format string, args ...any) {
	d.stop(&engine.Failure{Pos: callerPos(1), Problem: fmt.Sprintf(format, args...)})
}

func (d *Do) must(err error) {
	if err != nil {
		d.stop(asFailure(err))
	}
}

// stop ends the test: Suite.Run (or Concurrently, Eventually) recovers the
// failure.
func (d *Do) stop(f *engine.Failure) {
	if f.Test == "" {
		f.Test = d.test
	}
	panic(f)
}

// Ops returns the operations of d in a form that returns errors instead of
// stopping the test, for front ends that report failures as values, such
// as the Starlark binding. Every error an Ops method returns is an
// *engine.Failure whose position is pos (for example "election.star:42:9").
func (d *Do) Ops(pos string) *Ops { return &Ops{d: d, pos: pos} }

// Ops is the error-returning form of Do's operations; see Do.Ops. The
// panicking methods of Do are these plus a panic.
type Ops struct {
	d   *Do
	pos string
}

func (o *Ops) fail(what string, err error) *engine.Failure {
	return &engine.Failure{Test: o.d.test, Pos: o.pos, What: what, Err: err}
}

func (o *Ops) known(name string) error {
	if !slices.Contains(o.d.r.nodes, name) {
		return unknownNode(name, o.d.r.nodes)
	}
	return nil
}

// Names returns the names of the nodes sel selects now, in cluster order.
func (o *Ops) Names(sel NodeSelector) ([]string, error) {
	names, err := o.d.r.resolve(sel)
	if err != nil {
		return nil, o.fail("select "+sel.String(), err)
	}
	return names, nil
}

// resolve resolves sel among the live nodes: running and not paused.
func (r *run) resolve(sel NodeSelector) ([]string, error) {
	return sel.resolve(r.nodes, r.live)
}

func (r *run) live(name string) bool { return r.cl.Running(name) && !r.cl.Paused(name) }

// Addr returns the node's address inside the cluster.
func (o *Ops) Addr(name string) (string, error) {
	if err := o.known(name); err != nil {
		return "", o.fail("addr "+name, err)
	}
	addr, err := o.d.r.cl.Addr(name)
	if err != nil {
		return "", o.fail("addr "+name, env(err))
	}
	return addr, nil
}

// Fetch sends one GET request to the named node and returns its answer, or
// nil if the node could not be reached; the error is for an unknown node.
func (o *Ops) Fetch(name, path string) (*FetchResponse, error) {
	return o.Send(http.MethodGet, name, path, nil, nil, 0)
}

// Send is Do.Send; the error is for an unknown node. A timeout shorter than
// the suite's request timeout replaces it; 0 keeps it.
func (o *Ops) Send(method, name, path string, body []byte, header H, timeout time.Duration) (*FetchResponse, error) {
	if err := o.known(name); err != nil {
		what := "fetch " + path + " from " + name
		if method != http.MethodGet {
			what = "fetch " + method + " " + path + " from " + name
		}
		return nil, o.fail(what, err)
	}
	ctx := o.d.r.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resp := o.d.r.send(ctx, o.d, name, method, path, body, header)
	if resp.Err != nil {
		return nil, nil
	}
	return &FetchResponse{Response: resp, Body: []byte(resp.Body)}, nil
}

// DataSize returns the bytes of the files in the node's DATA_DIR, running
// or not, measured from outside the node.
func (o *Ops) DataSize(name string) (int64, error) {
	what := "measure the DATA_DIR of " + name
	if err := o.known(name); err != nil {
		return 0, o.fail(what, err)
	}
	r := o.d.r
	n, err := r.cl.DataSize(r.ctx, name)
	if err != nil {
		return 0, o.fail(what, r.interrupted(env(err)))
	}
	r.events.Add(cluster.Event{Node: name, Kind: cluster.EventDataDir, Bytes: n})
	return n, nil
}

// Start starts a stopped or killed node (or a spare node for the first
// time) and waits until it answers GET /health with 200.
func (o *Ops) Start(name string) error {
	what := "start " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	if err := o.start(name); err != nil {
		return o.fail(what, err)
	}
	return nil
}

func (o *Ops) start(name string) error {
	r := o.d.r
	if err := r.cl.Start(r.ctx, name); err != nil {
		return r.interrupted(env(err))
	}
	if err := r.waitHealthy(r.ctx, []string{name}); err != nil {
		return r.interrupted(err)
	}
	return nil
}

// Stop stops a node gracefully: SIGTERM, then SIGKILL after the shutdown
// timeout.
func (o *Ops) Stop(name string) error {
	what := "stop " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	if err := o.halt(name, false); err != nil {
		return o.fail(what, err)
	}
	return nil
}

// Kill sends a node SIGKILL.
func (o *Ops) Kill(name string) error {
	what := "kill " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	if err := o.halt(name, true); err != nil {
		return o.fail(what, err)
	}
	return nil
}

func (o *Ops) halt(name string, kill bool) error {
	r := o.d.r
	halt := r.cl.Stop
	if kill {
		halt = r.cl.Kill
	}
	// Close the idle connections first: one the node accepted but never
	// saw a request on keeps Go's http.Server.Shutdown waiting 5s for it,
	// which would turn a graceful stop into a SIGKILL after the shutdown
	// timeout.
	r.transport.CloseIdleConnections()
	err := halt(r.ctx, name)
	// Connections kept alive to the old process are dead now; a request
	// must not find one after the node restarts.
	r.transport.CloseIdleConnections()
	if err != nil {
		return r.interrupted(env(err))
	}
	return nil
}

// Restart stops a node (gracefully, or with syscall.SIGKILL by crashing it)
// and starts it again, waiting for GET /health.
func (o *Ops) Restart(name string, sig ...syscall.Signal) error {
	what := "restart " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	kill := false
	switch {
	case len(sig) > 1:
		return o.fail(what, env(errors.New("give at most one signal")))
	case len(sig) == 0 || sig[0] == syscall.SIGTERM:
	case sig[0] == syscall.SIGKILL:
		kill = true
	default:
		return o.fail(what, env(fmt.Errorf("signal %v: restart supports SIGTERM (graceful) and SIGKILL (crash)", sig[0])))
	}
	if kill {
		what += " with SIGKILL"
		o.d.r.events.Add(cluster.Event{Node: name, Kind: cluster.EventRestart, Signal: "KILL"})
	} else {
		o.d.r.events.Add(cluster.Event{Node: name, Kind: cluster.EventRestart, Signal: "TERM"})
	}
	if err := o.halt(name, kill); err != nil {
		return o.fail(what, err)
	}
	if err := o.start(name); err != nil {
		return o.fail(what, err)
	}
	return nil
}

// Partition cuts the network between the groups, both ways, and waits the
// settle time.
func (o *Ops) Partition(groups ...[]string) error {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = strings.Join(g, ", ")
	}
	what := "partition " + strings.Join(parts, " | ")
	seen := map[string]bool{}
	for _, g := range groups {
		for _, n := range g {
			if err := o.known(n); err != nil {
				return o.fail(what, err)
			}
			if seen[n] {
				return o.fail(what, env(fmt.Errorf("%s is in more than one group", n)))
			}
			seen[n] = true
		}
	}
	r := o.d.r
	gs := make([][]string, len(groups))
	for i, g := range groups {
		gs[i] = slices.Clone(g)
	}
	if err := r.cl.Partition(r.ctx, gs); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settleCluster(what)
}

// Heal removes every partition and cut and waits the settle time.
func (o *Ops) Heal() error {
	r := o.d.r
	if err := r.cl.Heal(r.ctx); err != nil {
		return o.fail("heal", r.interrupted(env(err)))
	}
	return o.settleCluster("heal")
}

// Pause freezes the selected nodes; see Do.Pause.
func (o *Ops) Pause(sel NodeSelector) error {
	what := "pause " + sel.short()
	r := o.d.r
	names, err := r.resolve(sel)
	if err != nil {
		return o.fail(what, err)
	}
	if len(names) == 0 {
		return o.fail(what, errors.New("no running node selected"))
	}
	err = r.eachName(names, func(name string) error { return r.cl.Pause(r.ctx, name) })
	if err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return nil
}

// union resolves the selectors of an operation on several of them (every
// node when none is given) against the nodes for which live holds, and
// returns the operation's description and the names, each once, in order.
func (o *Ops) union(verb string, sel []NodeSelector, live func(string) bool) (string, []string, error) {
	if len(sel) == 0 {
		sel = []NodeSelector{{}}
	}
	parts := make([]string, len(sel))
	for i, s := range sel {
		parts[i] = s.short()
	}
	what := verb + " " + strings.Join(parts, ", ")
	var names []string
	for _, s := range sel {
		ns, err := s.resolve(o.d.r.nodes, live)
		if err != nil {
			return what, nil, o.fail(what, err)
		}
		for _, n := range ns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return what, names, nil
}

// Resume thaws the selected paused nodes, or every paused node; see
// Do.Resume.
func (o *Ops) Resume(sel ...NodeSelector) error {
	r := o.d.r
	what, names, err := o.union("resume", sel, r.cl.Paused)
	if err != nil {
		return err
	}
	err = r.eachName(names, func(name string) error { return r.cl.Resume(r.ctx, name) })
	if err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return nil
}

// eachName runs fn for the names in parallel and joins their errors.
func (r *run) eachName(names []string, fn func(string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = fn(name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Cut drops what the nodes of src send to the nodes of dst and waits the
// settle time; see Do.Cut. Stopped and paused nodes are cut too when
// named, so the cut holds when they come back.
func (o *Ops) Cut(src, dst NodeSelector) error {
	what := "cut " + src.short() + " -> " + dst.short()
	r := o.d.r
	from, err := src.resolve(r.nodes, r.cl.Running)
	if err != nil {
		return o.fail(what, err)
	}
	to, err := dst.resolve(r.nodes, r.cl.Running)
	if err != nil {
		return o.fail(what, err)
	}
	if len(from) == 0 || len(to) == 0 {
		return o.fail(what, errors.New("no running node selected on one side"))
	}
	if err := r.cl.Cut(r.ctx, from, to); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

// Impair applies impairments to the outgoing traffic of the selected nodes
// and waits the settle time.
func (o *Ops) Impair(sel NodeSelector, imps ...Impairment) error {
	return o.impair("impair "+sel.short(), sel, nil, imps)
}

// ImpairTowards applies impairments to the traffic the selected nodes send
// to the nodes towards selects, and waits the settle time.
func (o *Ops) ImpairTowards(sel, towards NodeSelector, imps ...Impairment) error {
	return o.impair("impair "+sel.short()+" towards "+towards.short(), sel, &towards, imps)
}

func (o *Ops) impair(what string, sel NodeSelector, towards *NodeSelector, imps []Impairment) error {
	if len(imps) == 0 {
		return o.fail(what, env(errors.New("no impairment given: use Delay, Loss, Duplicate or Reorder")))
	}
	if err := cluster.Impairments(imps).Validate(); err != nil {
		return o.fail(what, env(err))
	}
	r := o.d.r
	names, err := r.resolve(sel)
	if err != nil {
		return o.fail(what, err)
	}
	if len(names) == 0 {
		return o.fail(what, errors.New("no running node selected"))
	}
	var to []string
	if towards != nil {
		if to, err = towards.resolve(r.nodes, r.cl.Running); err != nil {
			return o.fail(what, err)
		}
		if len(to) == 0 {
			return o.fail(what, errors.New("no running node selected to impair the traffic towards"))
		}
	}
	if err := r.cl.ImpairTowards(r.ctx, names, to, slices.Clone(imps)); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

// Repair removes the impairments of the selected nodes, of every running
// node when no selector is given, and waits the settle time.
func (o *Ops) Repair(sel ...NodeSelector) error {
	r := o.d.r
	// Paused nodes keep their impairments until repaired.
	what, names, err := o.union("repair", sel, r.cl.Running)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	if err := r.cl.Repair(r.ctx, names); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

func (o *Ops) settle(what string) error {
	return o.pause(what, o.d.r.cfg.Settle)
}

// settleCluster is the pause after Partition and Heal: the longer of the
// settle time and the cluster settle duration.
func (o *Ops) settleCluster(what string) error {
	return o.pause(what, max(o.d.r.cfg.Settle, o.d.r.cfg.ClusterSettle))
}

func (o *Ops) pause(what string, d time.Duration) error {
	if err := sleep(o.d.r.ctx, d); err != nil {
		return o.fail(what, o.d.r.interrupted(err))
	}
	return nil
}

// waitHealthy polls GET /health on the nodes in parallel until each answers
// 200 within the node start timeout. A node that does not is the target's
// fault: the error is a *cluster.TargetError with the node's last log
// lines.
func (r *run) waitHealthy(ctx context.Context, names []string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = r.waitNode(ctx, name) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return env(err)
	}
	if err := errors.Join(errs...); err != nil {
		return &cluster.TargetError{Err: err}
	}
	return nil
}

// healthPoll caps the pause between health checks: a node that is up
// should not wait a whole poll interval to be noticed.
const healthPoll = 20 * time.Millisecond

func (r *run) waitNode(ctx context.Context, name string) error {
	timeout := r.cfg.NodeStartTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		resp := r.send(ctx, nil, name, http.MethodGet, "/health", nil, nil)
		switch {
		case resp.Err == nil && resp.Status == http.StatusOK:
			return nil
		case resp.Err == nil:
			last = render.Status(resp.Status)
		case ctx.Err() == nil || last == "":
			// An attempt cut short by the deadline says less than the
			// one before it.
			last = resp.Err.Error()
		}
		if err := sleep(ctx, min(r.cfg.PollInterval, healthPoll)); err != nil {
			if r.ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("node %s did not answer GET /health with 200 within %v (last attempt: %s)%s",
				name, timeout, last, r.logTail(name))
		}
	}
}

// logTail renders the node's last log lines for an error message.
func (r *run) logTail(name string) string {
	lines := r.cl.LogTail(name, logTailLines)
	if len(lines) == 0 {
		return " — it wrote no log lines"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nlast log lines of %s:", name)
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

// sleep waits for d or until ctx is done, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// site is a source position, kept as a program counter until it is needed,
// so that a check that passes never pays for finding its file and line.
type site struct {
	pos string
	pc  uintptr
}

// callerSite returns the site of the caller skip frames above its own
// caller.
func callerSite(skip int) site {
	var pcs [1]uintptr
	runtime.Callers(skip+2, pcs[:])
	return site{pc: pcs[0]}
}

func (s site) String() string {
	if s.pos != "" || s.pc == 0 {
		return s.pos
	}
	fr, _ := runtime.CallersFrames([]uintptr{s.pc}).Next()
	return fmt.Sprintf("%s:%d", filepath.Base(fr.File), fr.Line)
}

// callerPos returns "file.go:42" for the caller skip frames above its own
// caller.
func callerPos(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}
