//go:build linux

package impair

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/nfqueue"
)

// Stats counts what the nftables path did to the traffic: the shaper and
// the rules. Copies of duplicated packets count as packets of their own
// in Delayed, Reordered and Dropped.
type Stats struct {
	// Path is the path the figures are of, PathNfqueue or PathNftables;
	// "" when there are none (nothing applied, or netem).
	Path string
	// Queued packets reached the shaper; Delayed waited, Reordered went
	// at once past waiting ones, Duplicated were sent twice, Dropped were
	// lost, by the shaper or by the nftables loss rule.
	Queued, Delayed, Reordered, Duplicated, Dropped uint64
	// Bypassed packets were meant for the shaper but passed unshaped:
	// its queue was full (more than the WithMaxHeld packets held), or no
	// shaper read it. While the shaper runs it also counts the few
	// packets on their way to it.
	Bypassed uint64
	// Held is how many packets wait now.
	Held int
	// Late counts packets released more than a millisecond after their
	// time; MaxLate is the latest release. A busy machine makes them.
	Late    uint64
	MaxLate time.Duration
	// RaisedPriority says whether the shaper's thread runs at a raised
	// priority (nice -10), which needs CAP_SYS_NICE; without it a busy
	// machine makes more packets late.
	RaisedPriority bool
	// DuplicateErrors counts copies that could not be sent; KernelErrors
	// verdicts the kernel refused.
	DuplicateErrors, KernelErrors uint64
	// Err says why the shaper stopped on its own, if it did (traffic then
	// passes unshaped, the queue bypassed, until the next Apply), or why
	// the rules' counters could not be read.
	Err error
}

// add sums the counts of two periods; for the rest, the later wins.
func (s Stats) add(t Stats) Stats {
	t.Queued += s.Queued
	t.Delayed += s.Delayed
	t.Reordered += s.Reordered
	t.Duplicated += s.Duplicated
	t.Dropped += s.Dropped
	t.Bypassed += s.Bypassed
	t.Late += s.Late
	t.MaxLate = max(t.MaxLate, s.MaxLate)
	t.DuplicateErrors += s.DuplicateErrors
	t.KernelErrors += s.KernelErrors
	if t.Err == nil {
		t.Err = s.Err
	}
	if t.Path == "" {
		t.Path = s.Path
	}
	return t
}

// shaperConfig says how a shaper binds its queue.
type shaperConfig struct {
	queue  uint16
	mark   uint32
	netns  int
	maxLen uint32
	seed   *[2]uint64 // nil: random
}

const (
	// drainQuiet is how long a stopping shaper keeps reading after the
	// last queued packet, so that packets still on their way to it are
	// let through rather than dropped with the queue; drainMax bounds
	// the whole drain.
	drainQuiet = 20 * time.Millisecond
	drainMax   = 300 * time.Millisecond
	// pollEvery bounds a wait, so that the loop notices a queue closed
	// under it.
	pollEvery = 100 * time.Millisecond
	// batch is how many datagrams the loop reads before it looks at its
	// timer again.
	batch = 64
	// raisedNice is the nice value of the shaper's thread where allowed.
	raisedNice = -10
)

// shaper holds the packets of one NFQUEUE until the times the scheduler
// gives them. One goroutine, locked to an OS thread, does all the work:
// it waits in epoll for queued packets, for its timer and for requests,
// so the kernel wakes it directly and it keeps at most one of the
// process's Ps in a system call.
type shaper struct {
	conn *nfqueue.Conn
	dup  *duplicator
	// Owned by the loop; closed by stop after the loop ends.
	epfd, timerfd, wakefd int

	mu       sync.Mutex // guards params, stopping, and err
	params   *Params    // new parameters for the loop to take, or nil
	stopping bool
	err      error

	// Owned by the loop goroutine.
	sched   *Scheduler
	pending pendingHeap
	seq     uint64

	queued, delayed, reordered, duplicated, dropped atomic.Uint64
	dupErrors, kernelErrors, late                   atomic.Uint64
	maxLate                                         atomic.Int64
	held                                            atomic.Int64
	raised                                          atomic.Bool

	done     chan struct{} // closed when the loop has ended
	stopOnce sync.Once
	stopErr  error
}

// startShaper binds the queue and starts the shaper's goroutine. It
// returns once packets can be queued; the goroutine runs until stop.
func startShaper(cfg shaperConfig, p Params) (*shaper, error) {
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
	s := &shaper{conn: conn, epfd: -1, timerfd: -1, wakefd: -1, done: make(chan struct{})}
	if err := s.open(cfg); err != nil {
		s.closeAll()
		return nil, err
	}
	var rng *rand.Rand
	if cfg.seed != nil {
		rng = rand.New(rand.NewPCG(cfg.seed[0], cfg.seed[1]))
	} else {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.sched = NewScheduler(p, rng)
	go s.run()
	return s, nil
}

// open creates the duplicator, the timer, the wake-up event and the epoll
// set that waits for them and the queue.
func (s *shaper) open(cfg shaperConfig) error {
	dup, err := newDuplicator(cfg.netns, cfg.mark)
	if err != nil {
		return err
	}
	s.dup = dup
	if s.timerfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return fmt.Errorf("create timerfd: %w", err)
	}
	if s.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("create eventfd: %w", err)
	}
	if s.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("create epoll: %w", err)
	}
	raw, err := s.conn.SyscallConn()
	if err != nil {
		return err
	}
	var qfd int
	if err := raw.Control(func(fd uintptr) { qfd = int(fd) }); err != nil {
		return fmt.Errorf("queue socket: %w", err)
	}
	for _, fd := range []int{qfd, s.timerfd, s.wakefd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
	}
	return nil
}

func (s *shaper) closeAll() error {
	err := s.conn.Close()
	if s.dup != nil {
		err = errors.Join(err, s.dup.Close())
	}
	for _, fd := range []int{s.epfd, s.timerfd, s.wakefd} {
		if fd >= 0 {
			err = errors.Join(err, unix.Close(fd))
		}
	}
	return err
}

// update makes later packets follow p; packets already held keep their
// times.
func (s *shaper) update(p Params) {
	s.mu.Lock()
	s.params = &p
	s.mu.Unlock()
	s.wake()
}

func (s *shaper) wake() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	unix.Write(s.wakefd, one)
}

// stop lets every held packet go now, reads until the queue is quiet,
// then closes it. The rules must no longer queue packets when it is
// called. It is safe to call more than once.
func (s *shaper) stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		s.wake()
		<-s.done
		s.stopErr = s.closeAll()
	})
	return s.stopErr
}

// stats reports the counters.
func (s *shaper) stats() Stats {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	return Stats{
		Queued: s.queued.Load(), Delayed: s.delayed.Load(), Reordered: s.reordered.Load(),
		Duplicated: s.duplicated.Load(), Dropped: s.dropped.Load(), Held: int(s.held.Load()),
		Late: s.late.Load(), MaxLate: time.Duration(s.maxLate.Load()), RaisedPriority: s.raised.Load(),
		DuplicateErrors: s.dupErrors.Load(), KernelErrors: s.kernelErrors.Load(), Err: err,
	}
}

// run is the shaper's loop.
func (s *shaper) run() {
	defer close(s.done)
	// The thread is never unlocked: it ends with this goroutine, and its
	// raised priority with it.
	runtime.LockOSThread()
	if unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), raisedNice) == nil {
		s.raised.Store(true)
	}
	events := make([]unix.EpollEvent, 4)
	var draining bool
	var drainQuietUntil, drainEnd time.Time
	for {
		wait := pollEvery
		if draining {
			wait = time.Until(minTime(drainQuietUntil, drainEnd))
		}
		if _, err := unix.EpollWait(s.epfd, events, max(int(wait.Milliseconds()), 1)); err != nil && err != unix.EINTR {
			s.fail(fmt.Errorf("shaper: epoll: %w", err))
			return
		}
		now := time.Now()
		var buf [8]byte
		unix.Read(s.wakefd, buf[:])
		unix.Read(s.timerfd, buf[:])

		s.mu.Lock()
		stopping, params := s.stopping, s.params
		s.params = nil
		s.mu.Unlock()
		if params != nil {
			s.sched.p = *params
		}
		if stopping && !draining {
			draining = true
			drainQuietUntil, drainEnd = now.Add(drainQuiet), now.Add(drainMax)
			s.send(s.takeAll())
		}

		n, err := s.receive(draining)
		if err != nil {
			s.fail(err)
			return
		}
		now = time.Now()
		if draining {
			if n > 0 {
				drainQuietUntil = now.Add(drainQuiet)
			}
			if !now.Before(minTime(drainQuietUntil, drainEnd)) {
				return
			}
			continue
		}
		s.releaseDue(now)
	}
}

// receive reads what is queued, up to batch datagrams, and schedules it.
func (s *shaper) receive(draining bool) (int, error) {
	n := 0
	for range batch {
		pkts, err := s.conn.TryReceive()
		// Each packet's delay counts from when it was read: never before
		// it was queued, even if the thread was preempted in the batch.
		now := time.Now()
		var kerr *nfqueue.KernelError
		switch {
		case errors.As(err, &kerr):
			s.kernelErrors.Add(1)
			continue
		case errors.Is(err, nfqueue.ErrClosed):
			return n, fmt.Errorf("shaper's queue %d was closed; traffic now bypasses the shaper until impairments are applied again", s.conn.Queue())
		case err != nil:
			return n, fmt.Errorf("shaper stopped reading queue %d: %w; traffic now bypasses the shaper until impairments are applied again", s.conn.Queue(), err)
		case len(pkts) == 0:
			return n, nil
		}
		n += len(pkts)
		s.handle(pkts, now, draining)
	}
	return n, nil
}

// handle schedules freshly queued packets.
func (s *shaper) handle(pkts []nfqueue.Packet, now time.Time, draining bool) {
	s.queued.Add(uint64(len(pkts)))
	var verdicts []nfqueue.VerdictFor
	var now1 []held
	for _, p := range pkts {
		if draining {
			verdicts = append(verdicts, nfqueue.VerdictFor{ID: p.ID, Verdict: nfqueue.Accept})
			continue
		}
		d := s.sched.Decide(now)
		if d.CopyLost {
			s.dropped.Add(1)
		}
		if d.Drop {
			s.dropped.Add(1)
			verdicts = append(verdicts, nfqueue.VerdictFor{ID: p.ID, Verdict: nfqueue.Drop})
			continue
		}
		// The packet and, if it is duplicated, its copy, each at its time.
		hs, n := [2]held{{at: d.At, id: p.ID, reordered: d.Reordered}}, 1
		if d.Duplicate {
			if p.Truncated() {
				s.dupErrors.Add(1)
			} else {
				hs[1], n = held{at: d.DuplicateAt, copy: bytes.Clone(p.Payload), dev: p.OutDev, reordered: d.CopyReordered}, 2
			}
		}
		for _, h := range hs[:n] {
			h.seq = s.seq
			s.seq++
			if h.reordered {
				s.reordered.Add(1)
			}
			if !h.at.After(now) {
				now1 = append(now1, h)
				continue
			}
			s.delayed.Add(1)
			heap.Push(&s.pending, h)
		}
	}
	s.held.Store(int64(len(s.pending)))
	s.verdicts(verdicts)
	s.send(now1)
}

// releaseDue sends the packets whose time has come and sets the timer for
// the next.
func (s *shaper) releaseDue(now time.Time) {
	var due []held
	for len(s.pending) > 0 && !s.pending[0].at.After(now) {
		due = append(due, heap.Pop(&s.pending).(held))
	}
	s.held.Store(int64(len(s.pending)))
	if len(due) > 0 {
		if late := now.Sub(due[0].at); late > time.Millisecond {
			s.late.Add(uint64(len(due)))
			if int64(late) > s.maxLate.Load() {
				s.maxLate.Store(int64(late))
			}
		}
	}
	s.send(due)
	var spec unix.ItimerSpec // zero disarms
	if len(s.pending) > 0 {
		d := max(time.Until(s.pending[0].at), time.Nanosecond)
		spec.Value = unix.NsecToTimespec(int64(d))
	}
	if err := unix.TimerfdSettime(s.timerfd, 0, &spec, nil); err != nil {
		s.fail(fmt.Errorf("shaper timer: %w", err))
	}
}

// held is one packet, or one copy of a packet, waiting for its time.
type held struct {
	at        time.Time
	seq       uint64 // arrival order, to keep equal times in order
	id        uint32 // the queued packet's id; unused for a copy
	copy      []byte // for a copy: the packet to send
	dev       uint32 // for a copy: the interface the packet was headed for
	reordered bool
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

// takeAll removes every held packet, in order.
func (s *shaper) takeAll() []held {
	all := make([]held, 0, len(s.pending))
	for len(s.pending) > 0 {
		all = append(all, heap.Pop(&s.pending).(held))
	}
	s.held.Store(0)
	return all
}

// send accepts packets and sends copies, in order.
func (s *shaper) send(hs []held) {
	if len(hs) == 0 {
		return
	}
	vs := make([]nfqueue.VerdictFor, 0, len(hs))
	for _, h := range hs {
		if h.copy == nil {
			vs = append(vs, nfqueue.VerdictFor{ID: h.id, Verdict: nfqueue.Accept})
		}
	}
	s.verdicts(vs)
	for _, h := range hs {
		if h.copy == nil {
			continue
		}
		if err := s.dup.send(h.copy, h.dev); err != nil {
			s.dupErrors.Add(1)
		} else {
			s.duplicated.Add(1)
		}
	}
}

func (s *shaper) verdicts(vs []nfqueue.VerdictFor) {
	// A verdict can only fail if the socket is gone, and then the kernel
	// has already dropped the packets; the loop reports why.
	if err := s.conn.SetVerdicts(vs); err != nil && !errors.Is(err, nfqueue.ErrClosed) {
		s.kernelErrors.Add(1)
	}
}

// fail records why the loop stopped and lets everything through: held
// packets are accepted, and with the queue closed the rule's bypass
// passes later ones.
func (s *shaper) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.send(s.takeAll())
	s.conn.Close()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
