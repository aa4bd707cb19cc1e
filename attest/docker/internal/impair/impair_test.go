//go:build linux

package impair

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
	"github.com/clstr-dev/clstr/attest/docker/internal/nfqueue"
	"github.com/clstr-dev/clstr/internal/testkit/stattest"
)

// shaperPath is the path the tests expect for delay, jitter, duplicate
// and reorder; they run WithoutNetem so that this machine's kernel, which
// lacks netem, and one that has it test the same code. TestNetemPath
// covers netem.
var shaperOpts = []Option{WithoutNetem()}

// baseline is the unimpaired median one-way latency from A to B.
func baseline(t testing.TB, env *netnstest.Pair) time.Duration {
	s := sendUDP(t, env, 100, time.Millisecond, 200*time.Millisecond, false)
	if s.unique() != s.sent {
		t.Fatalf("unimpaired: %v", s)
	}
	return quantile(s.latencies(), .5)
}

func within(got, want, tol time.Duration) bool {
	return got >= want-tol && got <= want+tol
}

func TestDelay(t *testing.T) {
	env := newEnv(t)
	base := baseline(t, env)
	c := newController(t, env, shaperOpts...)
	if path := apply(t, c, delay(50*time.Millisecond, 0)); path != PathNfqueue {
		t.Fatalf("path %q, want %q", path, PathNfqueue)
	}
	t.Run("udp", func(t *testing.T) {
		s := sendUDP(t, env, 300, 2*time.Millisecond, 300*time.Millisecond, false)
		t.Logf("baseline %v; %v", base, s)
		ls := s.latencies()
		if s.unique() != s.sent || s.dupPct() != 0 || s.reorderedPct() != 0 {
			t.Errorf("delay alone lost, duplicated or reordered datagrams: %v", s)
		}
		if p50 := quantile(ls, .5); !within(p50, 50*time.Millisecond+base, slack(time.Millisecond)) {
			t.Errorf("median latency %v, want 50ms + baseline %v ± 1ms", p50, base)
		}
		// Quantiles, not the extremes: the machine's other work may
		// delay a few packets by milliseconds.
		if iqr := quantile(ls, .75) - quantile(ls, .25); iqr > slack(500*time.Microsecond) {
			t.Errorf("latency spread p25–p75 %v, want < 0.5ms without jitter", iqr)
		}
		if spread := quantile(ls, .95) - quantile(ls, .05); spread > slack(2*time.Millisecond) {
			t.Errorf("latency spread p5–p95 %v, want < 2ms without jitter", spread)
		}
	})
	t.Run("udp6", func(t *testing.T) {
		s := sendUDP(t, env, 100, 2*time.Millisecond, 300*time.Millisecond, true)
		if p50 := quantile(s.latencies(), .5); s.unique() != s.sent || !within(p50, 50*time.Millisecond, slack(2*time.Millisecond)) {
			t.Errorf("IPv6: %v; want all delayed by 50ms", s)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		rtts := tcpRTTs(t, env, 30)
		t.Logf("TCP round trips: p50 %v max %v", quantile(rtts, .5), rtts[len(rtts)-1])
		if p50 := quantile(rtts, .5); !within(p50, 50*time.Millisecond, slack(2*time.Millisecond)) {
			t.Errorf("TCP median round trip %v, want 50ms (only A's half is delayed)", p50)
		}
	})
}

func TestJitter(t *testing.T) {
	env := newEnv(t)
	base := baseline(t, env)
	c := newController(t, env, shaperOpts...)
	apply(t, c, delay(50*time.Millisecond, 10*time.Millisecond))
	s := sendUDP(t, env, 600, time.Millisecond, 300*time.Millisecond, false)
	t.Logf("baseline %v; %v", base, s)
	ls := s.latencies()
	if s.unique() != s.sent {
		t.Errorf("jitter lost datagrams: %v", s)
	}
	if p50 := quantile(ls, .5); !within(p50, 50*time.Millisecond+base, slack(2*time.Millisecond)) {
		t.Errorf("median latency %v, want 50ms ± 2ms", p50)
	}
	if sd := robustSD(ls); !within(sd, 10*time.Millisecond, slack(2*time.Millisecond)) {
		t.Errorf("latency standard deviation (from the quartiles) %v, want 10ms ± 2ms", sd)
	}
	// Normal: about 68% within one sigma of the median.
	n := 0
	for _, l := range ls {
		if within(l, 50*time.Millisecond+base, 10*time.Millisecond) {
			n++
		}
	}
	if frac := float64(n) / float64(len(ls)); math.Abs(frac-0.683) > 0.07 && !raceEnabled {
		t.Errorf("%.0f%% of latencies within one sigma, want about 68%%", 100*frac)
	}
	// Packets a millisecond apart with 10ms of jitter overtake each other.
	if s.reorderedPct() < 10 {
		t.Errorf("only %.1f%% reordered; jitter larger than the spacing should reorder", s.reorderedPct())
	}
	t.Run("tcp", func(t *testing.T) {
		tcpBulk(t, env, 256<<10, 20*time.Second)
		rtts := tcpRTTs(t, env, 40)
		if p50 := quantile(rtts, .5); !within(p50, 50*time.Millisecond, slack(10*time.Millisecond)) {
			t.Errorf("TCP median round trip %v, want about 50ms", p50)
		}
	})
}

// TestLoss measures loss through the real path, from namespace B. Loss
// correlated as clstr asks (cluster.Correlation) goes through the shaper,
// whose two-state chain keeps the asked rate and makes a loss likelier
// after a loss; uncorrelated loss alone is nftables' numgen rule.
func TestLoss(t *testing.T) {
	tests := []struct {
		pct  float64
		corr float64
		path string
	}{
		{20, cluster.Correlation, PathNfqueue},
		{80, cluster.Correlation, PathNfqueue},
		{20, 0, PathNftables},
		{80, 0, PathNftables},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%g%% correlated %g", tc.pct, tc.corr), func(t *testing.T) {
			env := newEnv(t)
			c := newController(t, env, append(shaperOpts, WithCorrelation(tc.corr))...)
			if path := apply(t, c, loss(tc.pct)); path != tc.path {
				t.Fatalf("path %q, want %q", path, tc.path)
			}
			if (c.shaper != nil) != (tc.path == PathNfqueue) {
				t.Errorf("shaper running: %v on path %s", c.shaper != nil, tc.path)
			}
			const n = 2000
			s := sendUDP(t, env, n, 200*time.Microsecond, 200*time.Millisecond, false)
			t.Log(s)
			checkRate(t, "lost", s.lossPct(), tc.pct, s.sent, tc.corr)
			rate, cond := lossCorrelation(s)
			t.Logf("lost %.3f, P(loss | previous lost) %.3f", rate, cond)
			if tc.pct == 20 {
				// Correlated: P(loss | loss) = p + ρ(1−p) = 0.4; else 0.2.
				want := rate + tc.corr*(1-rate)
				// Each pair's draw is a fresh one from the state
				// "lost", so it is judged as an independent rate.
				if stattest.Rate("lost after a loss", cond, want, s.sent-s.unique(), 0) != nil {
					t.Errorf("P(loss | previous lost) %.3f, want %.3f", cond, want)
				}
			}
			if tc.path == PathNfqueue {
				// The shaper lost the datagrams that are missing, and
				// perhaps a few of the namespace's own packets (IPv6
				// neighbour discovery).
				missing := s.sent - s.unique()
				if st := c.Stats(); int(st.Dropped) < missing || int(st.Dropped) > missing+10 {
					t.Errorf("shaper dropped %d, but %d datagrams are missing", st.Dropped, missing)
				}
			}
			if tc.pct == 20 {
				// TCP recovers: the data arrives whole.
				tcpBulk(t, env, 64<<10, 30*time.Second)
			}
		})
	}
}

// lossCorrelation returns the share of datagrams lost and the share lost
// of those sent right after a lost one.
func lossCorrelation(s stream) (rate, afterLoss float64) {
	arrived := make([]bool, s.sent)
	for _, a := range s.arrived {
		arrived[a.seq] = true
	}
	var lost, prevLost, both int
	for i, ok := range arrived {
		if ok {
			continue
		}
		lost++
		if i > 0 && !arrived[i-1] {
			both++
		}
	}
	for _, ok := range arrived[:len(arrived)-1] {
		if !ok {
			prevLost++
		}
	}
	return float64(lost) / float64(s.sent), float64(both) / float64(max(prevLost, 1))
}

// TestLossIsSilent: a lost packet vanishes; no send fails. A TCP connect
// through total loss times out instead of failing with EPERM, as it would
// after an nftables drop on the output hook.
func TestLossIsSilent(t *testing.T) {
	env := newEnv(t)
	c := newController(t, env, shaperOpts...)
	apply(t, c, loss(100))
	s := sendUDP(t, env, 50, time.Millisecond, 100*time.Millisecond, false)
	if s.unique() != 0 {
		t.Errorf("loss 100%%: %v", s)
	}
	var ln net.Listener
	if err := env.B.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(env.B.Addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err := env.A.Do(func() error {
		conn, err := net.DialTimeout("tcp4", ln.Addr().String(), 300*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err
	})
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("TCP connect through 100%% loss: %v, want a timeout", err)
	}
}

func TestDuplicate(t *testing.T) {
	env := newEnv(t)
	c := newController(t, env, shaperOpts...)
	apply(t, c, duplicate(20))
	for _, v6 := range []bool{false, true} {
		s := sendUDP(t, env, 1000, 200*time.Microsecond, 200*time.Millisecond, v6)
		t.Logf("IPv6 %v: %v", v6, s)
		if s.unique() != s.sent {
			t.Errorf("duplicate lost datagrams: %v", s)
		}
		checkRate(t, fmt.Sprintf("IPv6 %v: duplicated", v6), s.dupPct(), 20, s.unique(), 0)
	}
	if st := c.Stats(); st.Duplicated == 0 || st.DuplicateErrors != 0 {
		t.Errorf("stats %+v: want duplicates and no errors", st)
	}
	tcpBulk(t, env, 256<<10, 20*time.Second)
}

func TestReorder(t *testing.T) {
	env := newEnv(t)
	base := baseline(t, env)
	c := newController(t, env, shaperOpts...)
	apply(t, c, delay(20*time.Millisecond, 0), reorder(25))
	s := sendUDP(t, env, 1000, 500*time.Microsecond, 200*time.Millisecond, false)
	t.Log(s)
	if s.unique() != s.sent || s.dupPct() != 0 {
		t.Errorf("reorder lost or duplicated datagrams: %v", s)
	}
	// The chosen ones go at once, the rest wait the full delay.
	var early, late int
	for _, l := range s.latencies() {
		switch {
		case l < 10*time.Millisecond:
			early++
		case within(l, 20*time.Millisecond+base, slack(2*time.Millisecond)):
			late++
		}
	}
	if p50 := quantile(s.latencies()[:early], .5); p50 > base+slack(time.Millisecond) {
		t.Errorf("the reordered went after %v (median), want at once", p50)
	}
	// A busy machine may hold up a few; nearly all are in one group or
	// the other.
	if odd := s.unique() - early - late; odd > oddShare(s.unique()) {
		t.Errorf("%d latencies are neither immediate nor 20ms (shaper: %+v)", odd, c.Stats())
	}
	checkRate(t, "sent at once", 100*float64(early)/float64(s.unique()), 25, s.unique(), cluster.Correlation)
	if s.reorderedPct() < 15 {
		t.Errorf("%.1f%% arrived before an earlier datagram, want about 25%%", s.reorderedPct())
	}
	tcpBulk(t, env, 256<<10, 20*time.Second)
}

func TestCombinations(t *testing.T) {
	tests := []struct {
		name  string
		imps  []cluster.Impairment
		check func(t *testing.T, s stream, base time.Duration)
	}{
		{
			name: "delay+loss",
			imps: []cluster.Impairment{delay(30*time.Millisecond, 0), loss(20)},
			check: func(t *testing.T, s stream, base time.Duration) {
				checkRate(t, "lost", s.lossPct(), 20, s.sent, cluster.Correlation)
				if p50 := quantile(s.latencies(), .5); !within(p50, 30*time.Millisecond+base, slack(time.Millisecond)) {
					t.Errorf("median latency %v, want 30ms", p50)
				}
			},
		},
		{
			name: "delay+jitter+reorder",
			imps: []cluster.Impairment{delay(40*time.Millisecond, 5*time.Millisecond), reorder(30)},
			check: func(t *testing.T, s stream, base time.Duration) {
				ls := s.latencies()
				early := 0
				for _, l := range ls {
					if l < 20*time.Millisecond { // 4 sigma below the delay
						early++
					}
				}
				checkRate(t, "sent at once", 100*float64(early)/float64(len(ls)), 30, len(ls), cluster.Correlation)
				delayed := ls[early:]
				if p50 := quantile(delayed, .5); !within(p50, 40*time.Millisecond+base, slack(2*time.Millisecond)) {
					t.Errorf("median of the delayed %v, want 40ms", p50)
				}
				if sd := robustSD(delayed); !within(sd, 5*time.Millisecond, slack(1500*time.Microsecond)) {
					t.Errorf("standard deviation (from the quartiles) of the delayed %v, want 5ms", sd)
				}
			},
		},
		{
			name: "delay+duplicate",
			imps: []cluster.Impairment{delay(30*time.Millisecond, 0), duplicate(30)},
			check: func(t *testing.T, s stream, base time.Duration) {
				checkRate(t, "duplicated", s.dupPct(), 30, s.unique(), 0)
				// Copies wait like their originals: none arrives early
				// (a busy machine can only make packets later).
				seen := map[int]bool{}
				var copies []time.Duration
				early := 0
				for _, a := range s.arrived {
					if a.latency < 29*time.Millisecond {
						if early++; early == 1 {
							t.Errorf("datagram %d arrived after %v, want 30ms", a.seq, a.latency)
						}
					}
					if seen[a.seq] {
						copies = append(copies, a.latency)
					}
					seen[a.seq] = true
				}
				if early > 0 {
					t.Errorf("%d of %d datagrams (originals and copies) arrived early", early, len(s.arrived))
				}
				slices.Sort(copies)
				if p50 := quantile(copies, .5); !within(p50, 30*time.Millisecond+base, slack(time.Millisecond)) {
					t.Errorf("median latency of the copies %v, want 30ms", p50)
				}
			},
		},
		{
			name: "delay+jitter+duplicate",
			imps: []cluster.Impairment{delay(30*time.Millisecond, 5*time.Millisecond), duplicate(50)},
			check: func(t *testing.T, s stream, base time.Duration) {
				// A copy draws its own jittered delay: packet and copy
				// arrive apart, by the difference of two draws (σ√1.5
				// with the jitter's 25% correlation, median about 4ms),
				// not back to back.
				first := map[int]time.Duration{}
				var gaps []time.Duration
				for _, a := range s.arrived {
					if l, ok := first[a.seq]; ok {
						gaps = append(gaps, (a.latency - l).Abs())
						continue
					}
					first[a.seq] = a.latency
				}
				slices.Sort(gaps)
				if len(gaps) < s.sent/4 {
					t.Fatalf("only %d copies", len(gaps))
				}
				if p50 := quantile(gaps, .5); p50 < 2*time.Millisecond || p50 > 7*time.Millisecond {
					t.Errorf("packet and copy arrive %v apart at the median, want about 4ms", p50)
				}
			},
		},
		{
			name: "all four",
			imps: []cluster.Impairment{delay(30*time.Millisecond, 3*time.Millisecond), loss(10), duplicate(10), reorder(10)},
			check: func(t *testing.T, s stream, base time.Duration) {
				// A packet drawn for both loss and duplication goes
				// once, and a copy draws its own loss, as on netem:
				// lost l(1−d) = 9%; of those that arrive, d(1−l)² /
				// (1 − l(1−d)) ≈ 8.9% come twice.
				const l, d = .10, .10
				checkRate(t, "lost", s.lossPct(), 100*l*(1-d), s.sent, cluster.Correlation)
				checkRate(t, "duplicated", s.dupPct(), 100*d*(1-l)*(1-l)/(1-l*(1-d)), s.unique(), cluster.Correlation)
			},
		},
	}
	env := newEnv(t)
	base := baseline(t, env)
	c := newController(t, env, shaperOpts...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if path := apply(t, c, tc.imps...); path != PathNfqueue {
				t.Fatalf("path %q, want %q", path, PathNfqueue)
			}
			s := sendUDP(t, env, 1000, 500*time.Microsecond, 200*time.Millisecond, false)
			t.Log(s)
			tc.check(t, s, base)
			tcpBulk(t, env, 128<<10, 30*time.Second)
		})
	}
}

// TestClear checks that Clear returns to the baseline at once, lets the
// held packets go rather than dropping them, and leaves nothing behind.
func TestClear(t *testing.T) {
	env := newEnv(t)
	base := baseline(t, env)
	c := newController(t, env, shaperOpts...)
	apply(t, c, delay(300*time.Millisecond, 0), loss(10))

	// Datagrams in flight when Clear comes arrive, and early.
	done := make(chan stream)
	go func() {
		s, err := udpStream(env, 50, time.Millisecond, 500*time.Millisecond, false)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	time.Sleep(60 * time.Millisecond)
	start := time.Now()
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	s := <-done
	t.Logf("Clear took %v; in flight: %v", took, s)
	if took > time.Second {
		t.Errorf("Clear took %v, want < 1s", took)
	}
	if p99 := quantile(s.latencies(), .99); p99 > 300*time.Millisecond {
		t.Errorf("held datagrams waited up to %v, want released by Clear", p99)
	}
	if s.unique() < s.sent*80/100 {
		t.Errorf("only %d of %d datagrams in flight arrived; Clear must release held packets (loss was 10%%)", s.unique(), s.sent)
	}

	after := sendUDP(t, env, 100, time.Millisecond, 200*time.Millisecond, false)
	if p50 := quantile(after.latencies(), .5); after.unique() != after.sent || p50 > base+time.Millisecond {
		t.Errorf("after Clear: %v; want the baseline %v", after, base)
	}
	if ok, err := hasTable(env.A.Fd()); ok || err != nil {
		t.Errorf("table inet %s still there after Clear (%v)", TableName, err)
	}
	// The figures of what was cleared stay readable.
	if st := c.Stats(); c.shaper != nil || c.Path() != "" || st.Held != 0 || st.Queued < uint64(s.sent) || st.Path != PathNfqueue {
		t.Errorf("after Clear: shaper %v, path %q, stats %+v", c.shaper, c.Path(), st)
	}
	// The queue is free again.
	q, err := nfqueue.Open(DefaultQueue, nfqueue.Config{NetNS: env.A.Fd()})
	if err != nil {
		t.Errorf("queue still bound after Clear: %v", err)
	} else {
		q.Close()
	}
	// Clearing twice is fine, and reports the figures once.
	if err := c.Clear(); err != nil {
		t.Errorf("second Clear: %v", err)
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("after a second Clear: stats %+v, want none", st)
	}
}

// TestApplyReplaces moves between paths and parameters.
func TestApplyReplaces(t *testing.T) {
	env := newEnv(t)
	base := baseline(t, env)
	// Uncorrelated, so that loss alone moves to the nftables rule and back.
	c := newController(t, env, append(shaperOpts, WithCorrelation(0))...)
	steps := []struct {
		imps   []cluster.Impairment
		path   string
		median time.Duration
		lossy  bool
	}{
		{[]cluster.Impairment{delay(40*time.Millisecond, 0)}, PathNfqueue, 40 * time.Millisecond, false},
		{[]cluster.Impairment{delay(10*time.Millisecond, 0)}, PathNfqueue, 10 * time.Millisecond, false},
		{[]cluster.Impairment{loss(50)}, PathNftables, 0, true},
		{[]cluster.Impairment{delay(20*time.Millisecond, 0)}, PathNfqueue, 20 * time.Millisecond, false},
	}
	for _, st := range steps {
		path := apply(t, c, st.imps...)
		s := sendUDP(t, env, 200, time.Millisecond, 200*time.Millisecond, false)
		t.Logf("%v via %s: %v", cluster.Impairments(st.imps), path, s)
		if path != st.path {
			t.Errorf("%v: path %q, want %q", cluster.Impairments(st.imps), path, st.path)
		}
		if (c.shaper != nil) != (path == PathNfqueue) {
			t.Errorf("%v: shaper running %v on path %s", cluster.Impairments(st.imps), c.shaper != nil, path)
		}
		if p50 := quantile(s.latencies(), .5); !within(p50, st.median+base, slack(time.Millisecond)) {
			t.Errorf("%v: median %v, want %v", cluster.Impairments(st.imps), p50, st.median)
		}
		if lost := s.lossPct() > 20; lost != st.lossy {
			t.Errorf("%v: lost %.1f%%", cluster.Impairments(st.imps), s.lossPct())
		}
	}
	// An empty set clears.
	if path, err := c.Apply(context.Background(), nil); err != nil || path != "" {
		t.Errorf("Apply(nothing) = %q, %v; want a Clear", path, err)
	}
	if ok, _ := hasTable(env.A.Fd()); ok {
		t.Error("Apply(nothing) left the table")
	}
}

// TestShaperDeathBypasses kills the shaper's queue: traffic must flow,
// the failure must show in Stats, and the next Apply must recover.
func TestShaperDeathBypasses(t *testing.T) {
	env := newEnv(t)
	c := newController(t, env, shaperOpts...)
	apply(t, c, delay(30*time.Millisecond, 0))
	c.shaper.conn.Close()
	time.Sleep(50 * time.Millisecond)
	s := sendUDP(t, env, 100, time.Millisecond, 200*time.Millisecond, false)
	if s.unique() != s.sent || quantile(s.latencies(), .5) > 5*time.Millisecond {
		t.Errorf("with the shaper gone: %v; want traffic to bypass it", s)
	}
	apply(t, c, delay(30*time.Millisecond, 0))
	s = sendUDP(t, env, 100, time.Millisecond, 200*time.Millisecond, false)
	if p50 := quantile(s.latencies(), .5); !within(p50, 30*time.Millisecond, slack(2*time.Millisecond)) {
		t.Errorf("after Apply again: %v; want the delay back", s)
	}
}

// TestClearRemovesLeftovers: a new Controller (a restarted daemon) clears
// what an earlier one left.
func TestClearRemovesLeftovers(t *testing.T) {
	env := newEnv(t)
	old := New(WithNetNS(env.A.Fd()), WithoutNetem())
	apply(t, old, loss(100))
	s := sendUDP(t, env, 20, time.Millisecond, 100*time.Millisecond, false)
	if s.unique() != 0 {
		t.Fatalf("loss 100%%: %v", s)
	}
	if err := New(WithNetNS(env.A.Fd())).Clear(); err != nil {
		t.Fatal(err)
	}
	s = sendUDP(t, env, 20, time.Millisecond, 100*time.Millisecond, false)
	if s.unique() != s.sent {
		t.Errorf("after a fresh Controller's Clear: %v", s)
	}
}

// TestNoPathIsOneClearError: when the shaper cannot start (here its queue
// is taken) Apply fails with one message that names both paths, and
// leaves nothing in place.
func TestNoPathIsOneClearError(t *testing.T) {
	env := newEnv(t)
	q, err := nfqueue.Open(DefaultQueue, nfqueue.Config{NetNS: env.A.Fd()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := newController(t, env, shaperOpts...)
	_, err = c.Apply(context.Background(), cluster.Impairments{delay(10*time.Millisecond, 0)})
	if err == nil {
		t.Fatal("Apply succeeded with the queue taken")
	}
	msg := err.Error()
	for _, want := range []string{"netem", "NFQUEUE", "CONFIG_NET_SCH_NETEM"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
	if ok, _ := hasTable(env.A.Fd()); ok || c.shaper != nil {
		t.Error("a failed Apply left rules or a shaper")
	}
}

// TestContextClears: a Controller whose context ends clears everything
// and refuses to apply more.
func TestContextClears(t *testing.T) {
	env := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := newController(t, env, append(shaperOpts, WithContext(ctx))...)
	apply(t, c, delay(200*time.Millisecond, 0), loss(5))
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for c.Path() != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ok, _ := hasTable(env.A.Fd()); ok || c.Path() != "" {
		t.Fatalf("after the context ended: table %v, path %q", ok, c.Path())
	}
	s := sendUDP(t, env, 50, time.Millisecond, 100*time.Millisecond, false)
	if s.unique() != s.sent || quantile(s.latencies(), .5) > 5*time.Millisecond {
		t.Errorf("after the context ended: %v", s)
	}
	if _, err := c.Apply(context.Background(), cluster.Impairments{loss(1)}); err == nil {
		t.Error("Apply after the context ended succeeded")
	}
}

func TestApplyRejectsInvalid(t *testing.T) {
	c := New()
	_, err := c.Apply(context.Background(), cluster.Impairments{reorder(10)})
	if err == nil || !strings.Contains(err.Error(), "needs a delay") {
		t.Errorf("reorder without delay: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Apply(ctx, cluster.Impairments{loss(1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v", err)
	}
}

func TestProbe(t *testing.T) {
	env := newEnv(t)
	s := Probe(WithNetNS(env.A.Fd()))
	t.Log(s)
	if !s.NftablesLoss.OK || !s.NFQueue.OK {
		t.Errorf("nftables or nfqueue unavailable in a fresh namespace of a kernel that runs the other tests: %v", s)
	}
	if path, err := s.Path(); err != nil || (path == PathNetem) != s.Netem.OK {
		t.Errorf("Path() = %q, %v for %v", path, err, s)
	}
	if ok, _ := hasTable(env.A.Fd()); ok {
		t.Error("Probe left the table")
	}
	if out, _ := env.A.Run("tc", "qdisc", "show", "dev", "lo"); strings.Contains(out, "netem") {
		t.Errorf("Probe left netem on lo: %s", out)
	}
	// Probe works beside a running shaper.
	c := newController(t, env, shaperOpts...)
	apply(t, c, delay(time.Millisecond, 0))
	if s2 := Probe(WithNetNS(env.A.Fd())); s2.NFQueue != s.NFQueue {
		t.Errorf("with a shaper running Probe says %v", s2)
	}
	if ok, _ := hasTable(env.A.Fd()); !ok {
		t.Error("Probe removed the running controller's table")
	}
	none := Support{Netem: Feature{Reason: "a"}, NftablesLoss: Feature{OK: true}, NFQueue: Feature{Reason: "b"}}
	if _, err := none.Path(); err == nil || !strings.Contains(err.Error(), "a") || !strings.Contains(none.String(), "unavailable") {
		t.Errorf("no path: %v / %s", err, none)
	}
}

// TestNetemPath runs where the kernel has sch_netem.
func TestNetemPath(t *testing.T) {
	env := newEnv(t)
	if s := Probe(WithNetNS(env.A.Fd())); !s.Netem.OK {
		t.Skipf("skipped: this kernel cannot run netem, so the netem path cannot be measured here: %s", s.Netem.Reason)
	}
	base := baseline(t, env)
	c := newController(t, env)
	if path := apply(t, c, delay(50*time.Millisecond, 10*time.Millisecond), loss(20)); path != PathNetem {
		t.Fatalf("path %q, want netem", path)
	}
	s := sendUDP(t, env, 1000, 500*time.Microsecond, 300*time.Millisecond, false)
	t.Log(s)
	if p50 := quantile(s.latencies(), .5); !within(p50, 50*time.Millisecond+base, slack(2*time.Millisecond)) {
		t.Errorf("median %v, want 50ms", p50)
	}
	if sd := robustSD(s.latencies()); !within(sd, 10*time.Millisecond, slack(2*time.Millisecond)) {
		t.Errorf("standard deviation %v, want 10ms", sd)
	}
	checkRate(t, "lost", s.lossPct(), 20, s.sent, cluster.Correlation)
	// The loss state model keeps the shaper's correlation.
	if rate, cond := lossCorrelation(s); math.Abs(cond-(rate+cluster.Correlation*(1-rate))) > .08 {
		t.Errorf("P(loss | previous lost) %.3f with %.3f lost, want %.3f", cond, rate, rate+cluster.Correlation*(1-rate))
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if out, _ := env.A.Run("tc", "qdisc", "show", "dev", env.A.Dev); strings.Contains(out, "netem") {
		t.Errorf("netem left after Clear: %s", out)
	}
}

// TestStats checks the figures against traffic measured from B: what
// the shaper dropped and duplicated, what passed it when its queue was
// full, what the nftables rule lost, and that Clear leaves them readable.
func TestStats(t *testing.T) {
	t.Run("shaper", func(t *testing.T) {
		env := newEnv(t)
		c := newController(t, env, shaperOpts...)
		apply(t, c, delay(5*time.Millisecond, time.Millisecond), loss(20), duplicate(10))
		s := sendUDP(t, env, 1000, 200*time.Microsecond, 200*time.Millisecond, false)
		t.Log(s)
		if err := c.Clear(); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		t.Logf("%+v", st)
		missing, copies := s.sent-s.unique(), len(s.arrived)-s.unique()
		// A few of the namespace's own packets (IPv6 neighbour
		// discovery) pass the shaper too.
		near := func(got uint64, want int) bool { return int(got) >= want && int(got) <= want+10 }
		if st.Path != PathNfqueue || !near(st.Queued, s.sent) || st.Bypassed != 0 {
			t.Errorf("stats %+v: want path %s, %d queued, none bypassed", st, PathNfqueue, s.sent)
		}
		// Dropped counts lost copies too; those are not missing.
		if int(st.Dropped) < missing || int(st.Dropped) > missing+copies/2+10 {
			t.Errorf("dropped %d, but %d datagrams are missing", st.Dropped, missing)
		}
		if !near(st.Duplicated, copies) {
			t.Errorf("duplicated %d, but %d copies arrived", st.Duplicated, copies)
		}
		if st.Delayed < st.Queued-st.Dropped-10 {
			t.Errorf("only %d of %d queued were delayed", st.Delayed, st.Queued)
		}
		// The next Apply over nothing starts afresh.
		apply(t, c, delay(time.Millisecond, 0))
		if st := c.Stats(); st.Queued > 10 || st.Dropped != 0 {
			t.Errorf("after a new Apply: %+v, want fresh figures", st)
		}
	})
	t.Run("bypass", func(t *testing.T) {
		env := newEnv(t)
		c := newController(t, env, append(shaperOpts, WithMaxHeld(20))...)
		apply(t, c, delay(300*time.Millisecond, 0))
		s := sendUDP(t, env, 200, time.Millisecond, 500*time.Millisecond, false)
		fast := 0
		for _, l := range s.latencies() {
			if l < 100*time.Millisecond {
				fast++
			}
		}
		st := c.Stats()
		t.Logf("%v; %+v", s, st)
		if s.unique() != s.sent || fast < 100 {
			t.Fatalf("with 20 held at most: %v; want most to pass at once", s)
		}
		if int(st.Bypassed) < fast-5 || int(st.Bypassed) > fast+10 {
			t.Errorf("bypassed %d, but %d datagrams passed at once", st.Bypassed, fast)
		}
	})
	t.Run("nftables", func(t *testing.T) {
		env := newEnv(t)
		c := newController(t, env, append(shaperOpts, WithCorrelation(0))...)
		apply(t, c, loss(30))
		s := sendUDP(t, env, 1000, 200*time.Microsecond, 200*time.Millisecond, false)
		st := c.Stats()
		t.Logf("%v; %+v", s, st)
		missing := s.sent - s.unique()
		if st.Path != PathNftables || int(st.Dropped) < missing || int(st.Dropped) > missing+5 || st.Queued != 0 {
			t.Errorf("stats %+v, but %d datagrams are missing", st, missing)
		}
		// Replacing the rules keeps what the old ones counted.
		apply(t, c, loss(10))
		if got := c.Stats(); got.Dropped < st.Dropped {
			t.Errorf("after replacing the rules, dropped %d < %d", got.Dropped, st.Dropped)
		}
	})
}

// TestTowards impairs only what A sends to B's IPv4 address: the IPv4
// stream is delayed, the IPv6 one to the same peer is not, on the shaper
// path and, where the kernel has it, on netem.
func TestTowards(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		path string
	}{
		{"shaper", shaperOpts, PathNfqueue},
		{"netem", nil, PathNetem},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			if s := Probe(WithNetNS(env.A.Fd())); tc.path == PathNetem && !s.Netem.OK {
				t.Skipf("skipped: this kernel cannot run netem, so the netem path cannot be measured here: %s", s.Netem.Reason)
			}
			base := baseline(t, env)
			c := newController(t, env, tc.opts...)
			path, err := c.ApplyTowards(context.Background(), cluster.Impairments{delay(30*time.Millisecond, 0)}, []netip.Addr{env.B.Addr})
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.path {
				t.Fatalf("path %q, want %q", path, tc.path)
			}
			to := sendUDP(t, env, 200, time.Millisecond, 200*time.Millisecond, false)
			other := sendUDP(t, env, 200, time.Millisecond, 200*time.Millisecond, true)
			t.Logf("towards B: %v; to B's IPv6 address: %v", to, other)
			if p50 := quantile(to.latencies(), .5); !within(p50, 30*time.Millisecond+base, slack(3*time.Millisecond)) {
				t.Errorf("towards B: median %v, want 30ms", p50)
			}
			if p50 := quantile(other.latencies(), .5); p50 > base+slack(3*time.Millisecond) {
				t.Errorf("to an address not picked: median %v, want unimpaired (%v)", p50, base)
			}
			if _, err := c.ApplyTowards(context.Background(), cluster.Impairments{delay(time.Millisecond, 0)}, []netip.Addr{env.B.Addr6}); err == nil {
				t.Error("an IPv6 destination was accepted")
			}
		})
	}
}
