//go:build linux

package impair

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
	"github.com/clstr-dev/clstr/internal/testkit/stattest"
)

// The integration tests shape the traffic of namespace A and measure it
// from B. All traffic goes between the two test namespaces only.

// newEnv creates the namespaces; it skips where that is impossible.
func newEnv(t testing.TB) *netnstest.Pair { return netnstest.NewPair(t) }

// newController returns a Controller for A that is cleared when the test
// ends, and checks that the clearing left nothing.
func newController(t testing.TB, env *netnstest.Pair, opts ...Option) *Controller {
	t.Helper()
	c := New(append([]Option{WithNetNS(env.A.Fd()), WithSeed(1, 2)}, opts...)...)
	t.Cleanup(func() {
		if err := c.Clear(); err != nil {
			t.Errorf("Clear at the end of the test: %v", err)
		}
		if ok, err := hasTable(env.A.Fd()); ok || err != nil {
			t.Errorf("after Clear the table exists (%v, %v)", ok, err)
		}
	})
	return c
}

func apply(t testing.TB, c *Controller, imps ...cluster.Impairment) string {
	t.Helper()
	path, err := c.Apply(context.Background(), imps)
	if err != nil {
		t.Fatalf("Apply(%v): %v", cluster.Impairments(imps), err)
	}
	return path
}

func delay(d, jitter time.Duration) cluster.Impairment {
	return cluster.Impairment{Kind: cluster.KindDelay, Delay: d, Jitter: jitter}
}
func loss(p float64) cluster.Impairment {
	return cluster.Impairment{Kind: cluster.KindLoss, Percent: p}
}
func duplicate(p float64) cluster.Impairment {
	return cluster.Impairment{Kind: cluster.KindDuplicate, Percent: p}
}
func reorder(p float64) cluster.Impairment {
	return cluster.Impairment{Kind: cluster.KindReorder, Percent: p}
}

// stream is the outcome of sending numbered UDP datagrams from A to B.
type stream struct {
	sent    int
	arrived []arrival // in arrival order, copies included
}

type arrival struct {
	seq     int
	latency time.Duration // one way: both ends share the machine's clock
}

// unique is how many distinct datagrams arrived.
func (s stream) unique() int {
	seen := map[int]bool{}
	for _, a := range s.arrived {
		seen[a.seq] = true
	}
	return len(seen)
}

// lossPct is the percentage of datagrams that never arrived.
func (s stream) lossPct() float64 { return 100 * float64(s.sent-s.unique()) / float64(s.sent) }

// dupPct is the percentage of arrived datagrams that came twice or more.
func (s stream) dupPct() float64 {
	return 100 * float64(len(s.arrived)-s.unique()) / float64(s.unique())
}

// checkRate fails t unless a percentage measured over n events is one
// that a process at wantPct would give (stattest.Rate), rho being the
// lag-one correlation of its draws.
func checkRate(t testing.TB, what string, gotPct, wantPct float64, n int, rho float64) {
	t.Helper()
	if err := stattest.Rate(what, gotPct/100, wantPct/100, n, rho); err != nil {
		t.Error(err)
	}
}

// reorderedPct is the percentage of first arrivals that overtook an
// earlier-sent datagram.
func (s stream) reorderedPct() float64 {
	seen := map[int]bool{}
	maxSeq, n := -1, 0
	for _, a := range s.arrived {
		if seen[a.seq] {
			continue
		}
		seen[a.seq] = true
		if a.seq < maxSeq {
			n++
		}
		maxSeq = max(maxSeq, a.seq)
	}
	return 100 * float64(n) / float64(len(seen))
}

// latencies of first arrivals, sorted.
func (s stream) latencies() []time.Duration {
	seen := map[int]bool{}
	var ds []time.Duration
	for _, a := range s.arrived {
		if !seen[a.seq] {
			seen[a.seq] = true
			ds = append(ds, a.latency)
		}
	}
	slices.Sort(ds)
	return ds
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	return ds[int(math.Round(q*float64(len(ds)-1)))]
}

// slack widens a timing tolerance under the race detector, which slows
// the shaper and the measuring goroutines alike.
func slack(d time.Duration) time.Duration {
	if raceEnabled {
		return 20 * d
	}
	return d
}

// oddShare is the share of packets a busy machine may hold up beyond a
// tolerance.
func oddShare(n int) int {
	if raceEnabled {
		return n / 2
	}
	return n / 20
}

// robustSD estimates the standard deviation of a normal sample from its
// quartiles, which a few packets held up by a busy machine do not move.
func robustSD(sorted []time.Duration) time.Duration {
	return time.Duration(float64(quantile(sorted, .75)-quantile(sorted, .25)) / 1.349)
}

func stddev(ds []time.Duration) time.Duration {
	var mean float64
	for _, d := range ds {
		mean += float64(d)
	}
	mean /= float64(len(ds))
	var v float64
	for _, d := range ds {
		v += (float64(d) - mean) * (float64(d) - mean)
	}
	return time.Duration(math.Sqrt(v / float64(len(ds))))
}

func (s stream) String() string {
	ls := s.latencies()
	return fmt.Sprintf("sent %d, arrived %d (%d distinct): loss %.1f%%, duplicates %.1f%%, reordered %.1f%%, latency p1 %v p50 %v p99 %v sd %v",
		s.sent, len(s.arrived), s.unique(), s.lossPct(), s.dupPct(), s.reorderedPct(),
		quantile(ls, .01), quantile(ls, .5), quantile(ls, .99), stddev(ls))
}

// sendUDP sends n datagrams from A to B, one every interval, over IPv4
// (or IPv6 with v6), and collects what arrives until quiet after the last.
// A failed send fails the test: lost packets must vanish silently.
func sendUDP(t testing.TB, env *netnstest.Pair, n int, interval, quiet time.Duration, v6 bool) stream {
	t.Helper()
	s, err := udpStream(env, n, interval, quiet, v6)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// udpStream is sendUDP for any goroutine.
func udpStream(env *netnstest.Pair, n int, interval, quiet time.Duration, v6 bool) (stream, error) {
	network, src, dst := "udp4", env.A.Addr, env.B.Addr
	if v6 {
		network, src, dst = "udp6", env.A.Addr6, env.B.Addr6
	}
	var rx, tx *net.UDPConn
	if err := env.B.Do(func() (err error) {
		rx, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}); err != nil {
		return stream{}, err
	}
	defer rx.Close()
	rx.SetReadBuffer(4 << 20)
	// The kernel stamps each datagram as it arrives, so that how late
	// the reading goroutine runs does not count.
	if err := setTimestamping(rx); err != nil {
		return stream{}, err
	}
	if err := env.A.Do(func() (err error) {
		tx, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		return stream{}, err
	}
	defer tx.Close()

	var s stream
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		oob := make([]byte, 128)
		for {
			rx.SetReadDeadline(time.Now().Add(quiet))
			k, oobn, _, _, err := rx.ReadMsgUDP(buf, oob)
			if err != nil {
				return // quiet for long enough
			}
			at, ok := kernelTimestamp(oob[:oobn])
			if !ok {
				at = time.Now()
			}
			if k < 12 {
				continue
			}
			seq := int(binary.BigEndian.Uint32(buf))
			sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(buf[4:])))
			mu.Lock()
			s.arrived = append(s.arrived, arrival{seq: seq, latency: at.Sub(sentAt)})
			mu.Unlock()
		}
	}()
	msg := make([]byte, 64)
	next := time.Now()
	var err error
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		binary.BigEndian.PutUint64(msg[4:], uint64(time.Now().UnixNano()))
		if _, werr := tx.Write(msg); werr != nil {
			err = fmt.Errorf("send datagram %d: %w (a lost packet must not fail the send)", i, werr)
			break
		}
		s.sent++
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	wg.Wait()
	return s, err
}

// setTimestamping asks the kernel to stamp each datagram on arrival
// (SO_TIMESTAMPNS, the wall clock).
func setTimestamping(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// kernelTimestamp finds the arrival time in a datagram's control data.
func kernelTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// tcpPair returns a TCP connection from A to B, and B's end.
func tcpPair(t testing.TB, env *netnstest.Pair) (a, b net.Conn) {
	t.Helper()
	var ln net.Listener
	if err := env.B.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(env.B.Addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	if err := env.A.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		a, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	select {
	case b = <-acc:
	case <-time.After(10 * time.Second):
	}
	if b == nil {
		t.Fatal("B did not accept the connection")
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// tcpRTTs measures n round trips of a small message that B sends and A
// echoes, so that A's outgoing half carries the impairment.
func tcpRTTs(t testing.TB, env *netnstest.Pair, n int) []time.Duration {
	t.Helper()
	a, b := tcpPair(t, env)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(a, a, int64(8*n))
		done <- err
	}()
	var rtts []time.Duration
	buf := make([]byte, 8)
	b.SetDeadline(time.Now().Add(time.Duration(n) * time.Second))
	for range n {
		start := time.Now()
		if _, err := b.Write(buf); err != nil {
			t.Fatalf("TCP write: %v", err)
		}
		if _, err := io.ReadFull(b, buf); err != nil {
			t.Fatalf("TCP read: %v", err)
		}
		rtts = append(rtts, time.Since(start))
	}
	if err := <-done; err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("TCP echo: %v", err)
	}
	slices.Sort(rtts)
	return rtts
}

// tcpBulk sends size bytes from A to B and checks they arrive intact
// within limit.
func tcpBulk(t testing.TB, env *netnstest.Pair, size int, limit time.Duration) time.Duration {
	t.Helper()
	a, b := tcpPair(t, env)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	start := time.Now()
	a.SetDeadline(start.Add(limit))
	b.SetDeadline(start.Add(limit))
	errc := make(chan error, 1)
	go func() {
		_, err := a.Write(data)
		errc <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatalf("TCP transfer of %d bytes: %v", size, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("TCP send: %v", err)
	}
	for i := range got {
		if got[i] != data[i] {
			t.Fatalf("TCP data differs at byte %d", i)
		}
	}
	return time.Since(start)
}
