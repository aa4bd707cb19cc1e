package impair

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/internal/nfqueue"
)

// Stats counts what the shaper did since it started.
type Stats struct {
	// Queued packets reached the shaper; Delayed waited, Reordered went
	// at once past waiting ones, Duplicated were sent twice, Dropped were
	// lost in the shaper (loss is normally dropped by nftables before).
	Queued, Delayed, Reordered, Duplicated, Dropped uint64
	// Held is how many packets wait now.
	Held int
	// Late counts packets released more than a millisecond after their
	// time; MaxLate is the latest release.
	Late    uint64
	MaxLate time.Duration
	// DuplicateErrors counts copies that could not be sent; KernelErrors
	// verdicts the kernel refused.
	DuplicateErrors, KernelErrors uint64
	// Err says why the shaper stopped on its own, if it did. Traffic then
	// passes unshaped (the queue is bypassed) until the next Apply.
	Err error
}

// shaperConfig says how a shaper binds its queue.
type shaperConfig struct {
	queue  uint16
	mark   uint32
	netns  int
	maxLen uint32
	seed   *[2]uint64 // nil: random
}

// drainQuiet is how long Clear keeps reading after the last queued packet
// before it closes the queue: the packets still on their way to userspace
// are let through rather than dropped with the queue.
const (
	drainQuiet = 20 * time.Millisecond
	drainMax   = 300 * time.Millisecond
)

// shaper holds the packets of one NFQUEUE until the times the scheduler
// gives them. One goroutine reads the queue and sends the packets due at
// once; another sends the rest when their time comes.
type shaper struct {
	conn *nfqueue.Conn
	dup  *duplicator

	mu       sync.Mutex // guards sched, pending, seq, draining and err
	sched    *Scheduler
	pending  pendingHeap
	seq      uint64
	draining bool
	err      error

	// timer fires when the earliest held packet is due; it is armed
	// under mu, always for the packet then earliest.
	timer *fdTimer

	queued, delayed, reordered, duplicated, dropped atomic.Uint64
	dupErrors, kernelErrors, late                   atomic.Uint64
	maxLate                                         atomic.Int64

	cancel     context.CancelFunc
	readerDone chan struct{}
	wg         sync.WaitGroup
}

// startShaper binds the queue and starts the shaper's goroutines under
// ctx. It returns once packets can be queued.
func startShaper(ctx context.Context, cfg shaperConfig, p Params) (*shaper, error) {
	conn, err := nfqueue.Open(cfg.queue, nfqueue.Config{
		CopyRange:  0xffff,
		MaxLen:     cfg.maxLen,
		FailOpen:   true,
		ReadBuffer: 16 << 20,
		NetNS:      cfg.netns,
	})
	if err != nil {
		return nil, err
	}
	dup, err := newDuplicator(cfg.netns, cfg.mark)
	if err != nil {
		conn.Close()
		return nil, err
	}
	timer, err := newFDTimer()
	if err != nil {
		conn.Close()
		dup.Close()
		return nil, err
	}
	var rng *rand.Rand
	if cfg.seed != nil {
		rng = rand.New(rand.NewPCG(cfg.seed[0], cfg.seed[1]))
	} else {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &shaper{
		conn:       conn,
		dup:        dup,
		sched:      NewScheduler(p, rng),
		timer:      timer,
		cancel:     cancel,
		readerDone: make(chan struct{}),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(s.readerDone)
		s.read(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.release(ctx)
	}()
	// Wake the releasing goroutine so that it sees ctx is done.
	context.AfterFunc(ctx, func() { timer.Arm(0) })
	return s, nil
}

// update makes later packets follow p; packets already held keep their
// times.
func (s *shaper) update(p Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sched.p = p
}

// held is one packet waiting for its time.
type held struct {
	at  time.Time
	seq uint64 // arrival order, to keep equal times in order
	id  uint32
	dup []byte // the copy to send with it, if any
	dev uint32
}

type pendingHeap []held

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(held)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// read receives queued packets until the queue is closed or drained.
func (s *shaper) read(ctx context.Context) {
	var drainStart time.Time
	for {
		pkts, err := s.conn.Receive()
		if len(pkts) > 0 {
			s.handle(pkts, time.Now())
		}
		s.mu.Lock()
		draining := s.draining
		s.mu.Unlock()
		if draining {
			// Keep reading while packets come; stop after a quiet spell.
			now := time.Now()
			if drainStart.IsZero() {
				drainStart = now
			}
			s.conn.SetReadDeadline(minTime(now.Add(drainQuiet), drainStart.Add(drainMax)))
		}
		var kerr *nfqueue.KernelError
		switch {
		case err == nil:
		case errors.As(err, &kerr):
			s.kernelErrors.Add(1)
		case errors.Is(err, os.ErrDeadlineExceeded) && draining:
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A deadline set for a drain that raced with this read.
		case ctx.Err() != nil || draining:
			return
		case errors.Is(err, nfqueue.ErrClosed):
			s.fail(fmt.Errorf("shaper's queue %d was closed; traffic now bypasses the shaper until impairments are applied again", s.conn.Queue()))
			return
		default:
			s.fail(fmt.Errorf("shaper stopped reading queue %d: %w; traffic now bypasses the shaper until impairments are applied again", s.conn.Queue(), err))
			return
		}
	}
}

// fail records why the shaper stopped and lets everything through.
func (s *shaper) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.draining = true
	all := s.takeAll()
	s.mu.Unlock()
	s.send(all)
	// With the queue closed the rule's bypass lets packets pass.
	s.conn.Close()
}

// handle schedules freshly queued packets.
func (s *shaper) handle(pkts []nfqueue.Packet, now time.Time) {
	s.queued.Add(uint64(len(pkts)))
	var now1 []held
	var verdicts []nfqueue.VerdictFor
	s.mu.Lock()
	for _, p := range pkts {
		if s.draining {
			verdicts = append(verdicts, nfqueue.VerdictFor{ID: p.ID, Verdict: nfqueue.Accept})
			continue
		}
		d := s.sched.Decide(now)
		if d.Drop {
			s.dropped.Add(1)
			verdicts = append(verdicts, nfqueue.VerdictFor{ID: p.ID, Verdict: nfqueue.Drop})
			continue
		}
		h := held{at: d.At, seq: s.seq, id: p.ID, dev: p.OutDev}
		s.seq++
		if d.Duplicate {
			if p.Truncated() {
				s.dupErrors.Add(1)
			} else {
				h.dup = bytes.Clone(p.Payload)
			}
		}
		if d.Reordered {
			s.reordered.Add(1)
		}
		if !d.At.After(now) {
			now1 = append(now1, h)
			continue
		}
		s.delayed.Add(1)
		heap.Push(&s.pending, h)
		if s.pending[0].seq == h.seq {
			s.arm(now)
		}
	}
	s.mu.Unlock()
	if len(verdicts) > 0 {
		s.verdicts(verdicts)
	}
	s.send(now1)
}

// arm sets the timer for the earliest held packet; s.mu must be held.
func (s *shaper) arm(now time.Time) {
	var err error
	if len(s.pending) > 0 {
		err = s.timer.Arm(s.pending[0].at.Sub(now))
	} else {
		err = s.timer.Disarm()
	}
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("shaper timer: %w", err)
	}
}

// release sends held packets when their time comes.
func (s *shaper) release(ctx context.Context) {
	for {
		now := time.Now()
		var due []held
		s.mu.Lock()
		for len(s.pending) > 0 && !s.pending[0].at.After(now) {
			due = append(due, heap.Pop(&s.pending).(held))
		}
		s.arm(now)
		s.mu.Unlock()
		if len(due) > 0 {
			if late := now.Sub(due[0].at); late > time.Millisecond {
				s.late.Add(uint64(len(due)))
				if int64(late) > s.maxLate.Load() {
					s.maxLate.Store(int64(late))
				}
			}
		}
		s.send(due)
		if err := s.timer.Wait(); err != nil || ctx.Err() != nil {
			return
		}
	}
}

// send accepts packets, in order, and sends their copies.
func (s *shaper) send(hs []held) {
	if len(hs) == 0 {
		return
	}
	vs := make([]nfqueue.VerdictFor, len(hs))
	for i, h := range hs {
		vs[i] = nfqueue.VerdictFor{ID: h.id, Verdict: nfqueue.Accept}
	}
	s.verdicts(vs)
	for _, h := range hs {
		if h.dup == nil {
			continue
		}
		if err := s.dup.send(h.dup, h.dev); err != nil {
			s.dupErrors.Add(1)
		} else {
			s.duplicated.Add(1)
		}
	}
}

func (s *shaper) verdicts(vs []nfqueue.VerdictFor) {
	// A verdict can only fail if the socket is gone, and then the kernel
	// has already dropped the packets; the reader reports why.
	if err := s.conn.SetVerdicts(vs); err != nil && !errors.Is(err, nfqueue.ErrClosed) {
		s.kernelErrors.Add(1)
	}
}

// takeAll removes every held packet; s.mu must be held.
func (s *shaper) takeAll() []held {
	all := make([]held, 0, len(s.pending))
	for len(s.pending) > 0 {
		all = append(all, heap.Pop(&s.pending).(held))
	}
	return all
}

// stop lets every held packet go now, reads until the queue is quiet,
// then closes it and waits for the goroutines. The rules must no longer
// queue packets when it is called.
func (s *shaper) stop() error {
	s.mu.Lock()
	s.draining = true
	all := s.takeAll()
	s.mu.Unlock()
	s.send(all)
	s.conn.SetReadDeadline(time.Now().Add(drainQuiet))
	select {
	case <-s.readerDone:
	case <-time.After(drainMax + time.Second):
	}
	s.cancel()
	err := s.conn.Close()
	s.wg.Wait()
	return errors.Join(err, s.dup.Close(), s.timer.Close())
}

// stats reports the counters.
func (s *shaper) stats() Stats {
	s.mu.Lock()
	n, err := len(s.pending), s.err
	s.mu.Unlock()
	return Stats{
		Queued: s.queued.Load(), Delayed: s.delayed.Load(), Reordered: s.reordered.Load(),
		Duplicated: s.duplicated.Load(), Dropped: s.dropped.Load(), Held: n,
		Late: s.late.Load(), MaxLate: time.Duration(s.maxLate.Load()),
		DuplicateErrors: s.dupErrors.Load(), KernelErrors: s.kernelErrors.Load(), Err: err,
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
