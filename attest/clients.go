package attest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// ClientOptions says how long Do.Clients runs and what runs beside its
// clients. Duration, Ops or both must be set.
type ClientOptions struct {
	// Duration: clients start no new call once it has passed.
	Duration time.Duration
	// Ops: each client makes at most this many calls.
	Ops int
	// Nemesis, if set, is called at least once and then again and again,
	// on a goroutine of its own, while the clients run (it may partition, heal, kill, start, pause,
	// impair and sleep), and is stopped when they finish: a Sleep in it
	// then returns at once, and it is not called again. The cluster is
	// left as the nemesis left it; the test heals what it needs to.
	Nemesis func(do *Do)
}

// Clients runs n logical clients concurrently: client i (0 … n-1) calls
// fn(do, i) again and again, its calls one after another, until the
// duration has passed or it has made opts.Ops calls, with a Do of its own
// whose requests are recorded as client i's. It returns the history of
// what the clients did, with the events (faults, nemesis steps) that
// happened meanwhile. A failure in a client or the nemesis stops them all
// and then the test.
func (d *Do) Clients(n int, fn func(do *Do, client int), opts ClientOptions) history.History {
	h, err := d.Ops(callerPos(1)).Clients(n, func(do *Do, i int) error {
		fn(do, i)
		return nil
	}, opts)
	d.must(err)
	return h
}

// Clients is Do.Clients for an fn that may return an error.
func (o *Ops) Clients(n int, fn func(do *Do, client int) error, opts ClientOptions) (history.History, error) {
	r, d := o.d.r, o.d
	what := fmt.Sprintf("clients(%d)", n)
	switch {
	case n < 1:
		return history.History{}, o.fail(what, env(fmt.Errorf("the number of clients is %d: it must be at least 1", n)))
	case opts.Duration <= 0 && opts.Ops <= 0:
		return history.History{}, o.fail(what, env(errors.New("give a duration, a number of calls per client, or both: clients would run for ever")))
	case opts.Ops < 0:
		return history.History{}, o.fail(what, env(fmt.Errorf("ops is %d: it cannot be negative", opts.Ops)))
	}
	batch := d.forks.Add(1)
	stop, cancel := context.WithCancel(r.ctx)
	defer cancel()
	if opts.Duration > 0 {
		t := time.AfterFunc(opts.Duration, cancel)
		defer t.Stop()
	}
	sink := &opSink{}
	from := r.hist.Now()

	var (
		mu    sync.Mutex // guards first
		first error
	)
	failed := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	var clients, nemesis sync.WaitGroup
	for i := range n {
		cd := d.fork(i, sink, stop, "client", batch, int64(i))
		clients.Go(func() {
			for calls := 0; opts.Ops <= 0 || calls < opts.Ops; calls++ {
				if stop.Err() != nil {
					return
				}
				if err := o.callClient(fn, cd, i); err != nil {
					failed(err)
					return
				}
			}
		})
	}
	if opts.Nemesis != nil {
		nd := d.fork(history.NoClient, nil, stop, "nemesis", batch, 0)
		nemesis.Go(func() {
			// At least once, so that what a nemesis does never depends
			// on how fast the clients were.
			for {
				if err := o.callNemesis(opts.Nemesis, nd); err != nil {
					failed(err)
					return
				}
				if stop.Err() != nil {
					return
				}
			}
		})
	}
	clients.Wait()
	cancel()
	nemesis.Wait()
	to := r.hist.Now()

	h := history.History{Ops: sink.take()}
	h.Events = r.historyEvents(func(e history.Event) bool { return e.Time >= from && e.Time <= to })
	h.Sort()
	switch {
	case first != nil:
		return h, first
	case r.ctx.Err() != nil:
		return h, o.fail(what, r.interrupted(r.ctx.Err()))
	}
	return h, nil
}

// callClient runs one call of a client, where a panic must not escape.
func (o *Ops) callClient(fn func(*Do, int) error, cd *Do, i int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = o.d.r.panicked(o.d.test, v)
		}
	}()
	if err := fn(cd, i); err != nil {
		if f, ok := err.(*engine.Failure); ok {
			return f
		}
		return o.fail(fmt.Sprintf("client %d", i), err)
	}
	return nil
}

// callNemesis runs one call of a nemesis, where a panic must not escape.
func (o *Ops) callNemesis(fn func(*Do), nd *Do) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = o.d.r.panicked(o.d.test, v)
		}
	}()
	fn(nd)
	return nil
}

// fork returns a Do for a client or the nemesis of a Clients call: the
// same test, its own client id and random stream, and a stop context that
// ends its sleeps when the Clients call is over.
func (d *Do) fork(client int, sink *opSink, stop context.Context, role string, batch, i int64) *Do {
	return &Do{
		r: d.r, test: d.test, forks: d.forks, built: d.built,
		client: client, sink: sink, halt: stop,
		rng: d.r.stream(d.test, role, batch, i),
	}
}

// Stopped returns a channel that is closed when the calls of this Do
// should end: for a client or nemesis of Clients, when the clients are
// done; otherwise when the run is cancelled.
func (d *Do) Stopped() <-chan struct{} {
	if d.halt != nil {
		return d.halt.Done()
	}
	return d.r.ctx.Done()
}

// InClients reports whether this Do is one of a client or the nemesis of
// Do.Clients, whose sleeps end when the clients are done.
func (d *Do) InClients() bool { return d.halt != nil }

// Client returns the client id of the requests this Do makes: 0 … n-1 in
// the clients of Do.Clients, history.NoClient elsewhere.
func (d *Do) Client() int { return d.client }

// Sleep pauses for dur. In a client or nemesis of Clients it returns early
// once the clients are done; it stops the test if the run is cancelled.
func (d *Do) Sleep(dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.Stopped():
		if err := d.r.ctx.Err(); err != nil {
			d.must(d.Ops(callerPos(1)).fail("sleep", d.r.interrupted(err)))
		}
	}
}

// Rand returns the random source of this Do. Every draw comes from the
// run's seed (engine.RunOptions.Seed): the test, each client and the
// nemesis of a Clients call have streams of their own, so a run with the
// same seed draws the same values in each, whatever the timing. The
// goroutines of Concurrently share the test's stream.
func (d *Do) Rand() *rand.Rand { return d.rng }

// History returns what the current test has done so far: its requests
// (checks, fetches, clients) and its events.
func (d *Do) History() history.History {
	test := d.test
	h := d.r.hist.History(func(op history.Op) bool { return op.Test == test }, nil)
	h.Events = d.r.historyEvents(func(e history.Event) bool { return e.Test == test })
	return h
}

// opSink collects the operations of one Clients call.
type opSink struct {
	mu  sync.Mutex // guards ops
	ops []history.Op
}

func (s *opSink) add(op history.Op) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
}

func (s *opSink) take() []history.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops
}

// record adds the request that made resp to the run's history, and to the
// Clients call that d belongs to.
//
// A request sent again (resent) may have taken effect on a first attempt
// too: an answer that it failed only says the last attempt did.
func (d *Do) record(resp *engine.Response, path string, body []byte, invoke, complete time.Duration, resent bool) {
	op := history.Op{
		Client: d.client, Test: d.test, Node: resp.Node,
		Method: resp.Method, Path: path, Body: d.r.hist.Keep(string(body)),
		Status: resp.Status, Response: d.r.hist.Keep(resp.Body),
		Invoke: invoke, Complete: complete,
		Outcome: history.OutcomeOf(resp.Status),
	}
	if resp.Err != nil {
		op.Error = resp.Err.Error()
		op.Status, op.Outcome = 0, history.Unknown
	}
	if resent && op.Outcome == history.Fail {
		op.Outcome = history.Unknown
	}
	d.r.hist.Add(op)
	if d.sink != nil {
		d.sink.add(op)
	}
}

// historyEvents turns the events of the run's event log that keep selects
// into history events, on the history's clock and named after the test
// that was running.
func (r *run) historyEvents(keep func(history.Event) bool) []history.Event {
	if r.events == nil {
		return nil
	}
	start := r.hist.Start()
	var out []history.Event
	test := ""
	for _, e := range r.events.Events() {
		if e.Kind == cluster.EventTest {
			test = e.Detail
			continue
		}
		he := history.Event{Time: e.Time.Sub(start), Node: e.Node, Kind: e.Kind, Text: e.Text(), Test: test}
		if he.Time < 0 {
			continue
		}
		if keep == nil || keep(he) {
			out = append(out, he)
		}
	}
	return out
}

// stream returns a random source drawn from the run's seed and the names
// given, so that each test, client and nemesis has a stream of its own.
func (r *run) stream(test, role string, batch, i int64) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", test, role, batch, i)
	return rand.New(&lockedSource{src: rand.NewPCG(r.seed, h.Sum64())})
}

// lockedSource lets the goroutines of Concurrently share a stream.
type lockedSource struct {
	mu  sync.Mutex // guards src
	src *rand.PCG
}

func (s *lockedSource) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Uint64()
}

// forkCounter numbers the Clients calls of a test, so that each call's
// clients draw from new streams.
type forkCounter = atomic.Int64
