//go:build linux

package impair

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
)

// Benchmarks of the NFQUEUE shaper, between two test namespaces. Compare
// runs with benchstat; the metrics are:
//
//	added-µs-p50    the shaper's own latency at the median (goal < 1000)
//	pkts/s          packets through the shaper (goal ≥ 20 000 on 2 cores)
//	err-%-p50/p99   how far a delay is from the asked one (goal ±10%)

// passThrough queues all of A's outgoing traffic to a shaper that holds
// nothing, so that what is measured is the shaper itself.
func passThrough(b *testing.B, env *netnstest.Pair) *shaper {
	b.Helper()
	s, err := startShaper(shaperConfig{queue: DefaultQueue, mark: DefaultMark, netns: env.A.Fd(), maxLen: DefaultMaxHeld}, Params{})
	if err != nil {
		b.Fatal(err)
	}
	r := rules{Shape: true, Queue: DefaultQueue, Mark: DefaultMark}
	if err := r.install(env.A.Fd()); err != nil {
		s.stop()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		rules{Queue: DefaultQueue, Mark: DefaultMark}.install(env.A.Fd())
		s.stop()
		removeRules(env.A.Fd())
	})
	return s
}

// echo answers every datagram B receives, until the test ends; it returns
// A's socket, connected to it.
func echo(b *testing.B, env *netnstest.Pair) *net.UDPConn {
	b.Helper()
	var srv, cli *net.UDPConn
	if err := env.B.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(env.B.Addr, 0)))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, addr, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], addr)
		}
	}()
	b.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	if err := env.A.Do(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	return cli
}

// pingPong sends n datagrams one at a time, each after the answer to the
// last, and returns the sorted round trips.
func pingPong(b *testing.B, c *net.UDPConn, n int) []time.Duration {
	b.Helper()
	msg := make([]byte, 64)
	buf := make([]byte, 1500)
	rtts := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			b.Fatalf("ping-pong: %v", err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts
}

// BenchmarkShaperLatency measures what the shaper adds to a round trip
// whose outgoing half it queues, and how many one-at-a-time packets per
// second go through it.
func BenchmarkShaperLatency(b *testing.B) {
	env := newEnv(b)
	c := echo(b, env)
	const warm = 200
	pingPong(b, c, warm)
	base := pingPong(b, c, 2000)
	passThrough(b, env)
	pingPong(b, c, warm)
	b.ResetTimer()
	start := time.Now()
	shaped := pingPong(b, c, b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	added := quantile(shaped, .5) - quantile(base, .5)
	b.ReportMetric(float64(added)/float64(time.Microsecond), "added-µs-p50")
	b.ReportMetric(float64(quantile(shaped, .99)-quantile(base, .99))/float64(time.Microsecond), "added-µs-p99")
	b.ReportMetric(float64(quantile(base, .5))/float64(time.Microsecond), "base-rtt-µs-p50")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pingpong-pkts/s")
}

// BenchmarkShaperThroughput floods the shaper from A and counts the
// packets that pass it per second.
func BenchmarkShaperThroughput(b *testing.B) {
	env := newEnv(b)
	s := passThrough(b, env)
	var rx, tx *net.UDPConn
	if err := env.B.Do(func() (err error) {
		rx, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(env.B.Addr, 0)))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(8 << 20)
	var got atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		buf := make([]byte, 1500)
		for ctx.Err() == nil {
			if _, err := rx.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	if err := env.A.Do(func() (err error) {
		tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	msg := make([]byte, 64)
	queued0 := s.stats().Queued
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := tx.Write(msg); err != nil {
			b.Fatalf("send %d: %v", i, err)
		}
	}
	// Wait for the last packets to come out of the shaper.
	for last, same := got.Load(), 0; same < 5; {
		time.Sleep(2 * time.Millisecond)
		if n := got.Load(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	elapsed := time.Since(start) - 10*time.Millisecond
	b.StopTimer()
	b.ReportMetric(float64(s.stats().Queued-queued0)/elapsed.Seconds(), "queued-pkts/s")
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "delivered-pkts/s")
	b.ReportMetric(100*float64(got.Load())/float64(b.N), "delivered-%")
}

// BenchmarkDelayPrecision measures how close delays of 50, 100 and 200ms
// come to the asked value, over UDP with kernel receive timestamps. b.N
// is the number of packets, sent a millisecond apart.
func BenchmarkDelayPrecision(b *testing.B) {
	for _, d := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		b.Run(fmt.Sprint(d), func(b *testing.B) {
			env := newEnv(b)
			c := New(WithNetNS(env.A.Fd()), WithoutNetem())
			b.Cleanup(func() { c.Clear() })
			if _, err := c.Apply(context.Background(), cluster.Impairments{delay(d, 0)}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			s, err := udpStream(env, b.N, time.Millisecond, d+100*time.Millisecond, false)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			all := s.latencies()
			errPct := func(q float64) float64 { return 100 * float64(quantile(all, q)-d) / float64(d) }
			b.ReportMetric(errPct(.5), "err-%-p50")
			b.ReportMetric(errPct(.99), "err-%-p99")
			b.ReportMetric(errPct(0), "err-%-min")
			b.ReportMetric(float64(c.Stats().Late), "late-pkts")
		})
	}
}

// BenchmarkLossAccuracy measures loss through the real path at 20% and
// 80%, correlated as clstr asks (through the shaper) and uncorrelated
// (through the nftables rule). b.N is the number of datagrams, sent
// 100µs apart; lost-% should be the asked rate and after-loss-% the
// chance of a loss right after one: p + ρ(1−p) when correlated, p when
// not.
func BenchmarkLossAccuracy(b *testing.B) {
	for _, corr := range []float64{cluster.Correlation, 0} {
		for _, pct := range []float64{20, 80} {
			b.Run(fmt.Sprintf("loss=%g/corr=%g", pct, corr), func(b *testing.B) {
				env := newEnv(b)
				c := New(WithNetNS(env.A.Fd()), WithoutNetem(), WithCorrelation(corr))
				b.Cleanup(func() { c.Clear() })
				if _, err := c.Apply(context.Background(), cluster.Impairments{loss(pct)}); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				s, err := udpStream(env, max(b.N, 2), 100*time.Microsecond, 100*time.Millisecond, false)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				rate, after := lossCorrelation(s)
				b.ReportMetric(100*rate, "lost-%")
				b.ReportMetric(100*after, "after-loss-%")
			})
		}
	}
}

// BenchmarkRateAccuracy measures the rates of duplicate and reorder
// through the real path (the shaper, on a kernel without netem), alone
// and combined with a delay. b.N is the number of datagrams, sent 200µs
// apart (the goal is ±5 points over 1000: -benchtime 1000x). dup-% is
// the share of datagrams that arrived twice; at-once-% the share that
// arrived in under half the delay, which reorder sends at once.
func BenchmarkRateAccuracy(b *testing.B) {
	const d = 50 * time.Millisecond
	for _, bc := range []struct {
		name string
		imps cluster.Impairments
	}{
		{"duplicate=30", cluster.Impairments{duplicate(30)}},
		{"delay=50ms/duplicate=20", cluster.Impairments{delay(d, 0), duplicate(20)}},
		{"delay=50ms/reorder=25", cluster.Impairments{delay(d, 0), reorder(25)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			env := newEnv(b)
			c := New(WithNetNS(env.A.Fd()), WithoutNetem())
			b.Cleanup(func() { c.Clear() })
			if _, err := c.Apply(context.Background(), bc.imps); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			s, err := udpStream(env, max(b.N, 2), 200*time.Microsecond, d+100*time.Millisecond, false)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			atOnce := 0
			for _, l := range s.latencies() {
				if l < d/2 {
					atOnce++
				}
			}
			b.ReportMetric(s.dupPct(), "dup-%")
			b.ReportMetric(100*float64(atOnce)/float64(s.unique()), "at-once-%")
			b.ReportMetric(s.lossPct(), "lost-%")
		})
	}
}
