package netd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/impair"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
	"github.com/clstr-dev/clstr/internal/testkit/stattest"
)

// elsewhere is a peer that exists nowhere: what A sends it is nothing.
var elsewhere = netip.MustParseAddr("192.0.2.3")

// udpSocket opens a UDP socket in ns bound to addr (port 0: any), marked
// with mark unless 0.
func udpSocket(t testing.TB, ns *netnstest.NS, addr netip.Addr, mark int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := ns.Do(func() (err error) {
		lc := net.ListenConfig{Control: func(_, _ string, raw syscall.RawConn) error {
			if mark == 0 {
				return nil
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark)
			}); err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(t.Context(), "udp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendTo sends n datagrams of size bytes from c to the address.
func sendTo(t *testing.T, c *net.UDPConn, to netip.AddrPort, n, size int) {
	t.Helper()
	b := make([]byte, size)
	for range n {
		if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
}

// counted reads A's counts, by peer.
func counted(t *testing.T, ns *netnstest.NS) map[string]PeerCount {
	t.Helper()
	sent, err := readCounting(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]PeerCount{}
	for _, s := range sent {
		out[s.Peer] = s
	}
	return out
}

func TestCounting(t *testing.T) {
	p := netnstest.NewPair(t)
	a, b := p.A, p.B
	if _, err := readCounting(a.Fd()); !errors.Is(err, errNotCounting) {
		t.Fatalf("read before counting: %v, want %v", err, errNotCounting)
	}
	if err := setCounting(a.Fd(), []netip.Addr{b.Addr, elsewhere}); err != nil {
		t.Fatal(err)
	}
	if err := setCounting(b.Fd(), []netip.Addr{a.Addr}); err != nil {
		t.Fatal(err)
	}
	atB := udpSocket(t, b, b.Addr, 0)
	to := netip.MustParseAddrPort(atB.LocalAddr().String())
	const n, size = 100, 200
	sendTo(t, udpSocket(t, a, a.Addr, 0), to, n, size)
	// The shaper's copies of duplicated packets are not the node's.
	sendTo(t, udpSocket(t, a, a.Addr, impair.DefaultMark), to, 7, size)
	// Nor is what goes over IPv6.
	at6 := udpSocket(t, b, b.Addr6, 0)
	sendTo(t, udpSocket(t, a, a.Addr6, 0), netip.MustParseAddrPort(at6.LocalAddr().String()), 5, size)
	// Every datagram arrived before the counts are read.
	buf := make([]byte, 2048)
	atB.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range n + 7 {
		if _, err := atB.Read(buf); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}

	got := counted(t, a)
	if want := (PeerCount{Peer: b.Addr.String(), Packets: n, Bytes: n * (20 + 8 + size)}); got[b.Addr.String()] != want {
		t.Errorf("A sent B %+v, want %+v", got[b.Addr.String()], want)
	}
	if want := (PeerCount{Peer: elsewhere.String()}); got[elsewhere.String()] != want {
		t.Errorf("A sent %v %+v, want nothing", elsewhere, got[elsewhere.String()])
	}
	if len(got) != 2 {
		t.Errorf("A counts %v, want its two peers", got)
	}
	// B answered nothing, and its counts say so.
	if back := counted(t, b)[a.Addr.String()]; back.Packets != 0 || back.Bytes != 0 {
		t.Errorf("B sent A %+v, want nothing", back)
	}

	// Counting again starts from zero.
	if err := setCounting(a.Fd(), []netip.Addr{b.Addr}); err != nil {
		t.Fatal(err)
	}
	if got := counted(t, a); len(got) != 1 || got[b.Addr.String()].Packets != 0 {
		t.Errorf("after counting again: %v, want zero for B alone", got)
	}
	if err := stopCounting(a.Fd()); err != nil {
		t.Fatal(err)
	}
	if _, err := readCounting(a.Fd()); !errors.Is(err, errNotCounting) {
		t.Errorf("read after stopping: %v, want %v", err, errNotCounting)
	}
	if err := stopCounting(a.Fd()); err != nil {
		t.Errorf("stop twice: %v", err)
	}
	if err := setCounting(a.Fd(), []netip.Addr{p.A.Addr6}); err == nil {
		t.Error("counting towards an IPv6 address: no error")
	}
}

// BenchmarkCounting measures what the counters cost a packet: UDP round
// trips between the two namespaces of a test pair, each end counting what
// it sends, against the same with no counters, alternated in one run
// (each a ratio, counted/plain, of round trips per second). With 4 peers
// the other end is the first rule; with 149, as in the largest cluster
// clstr makes, it is the last, and every packet meets all the rules.
func BenchmarkCounting(b *testing.B) {
	for _, peers := range []int{4, 149} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			p := netnstest.NewPair(b)
			// list returns the peers of a namespace whose other end is at
			// peer: first of them with 4, last with 149.
			list := func(peer netip.Addr) []netip.Addr {
				var others []netip.Addr
				for i := range peers - 1 {
					others = append(others, netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}))
				}
				if peers == 4 {
					return append([]netip.Addr{peer}, others...)
				}
				return append(others, peer)
			}
			echo := udpSocket(b, p.B, p.B.Addr, 0)
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := echo.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					echo.WriteToUDPAddrPort(buf[:n], from)
				}
			}()
			c := udpSocket(b, p.A, p.A.Addr, 0)
			to := netip.MustParseAddrPort(echo.LocalAddr().String())
			roundTrips := func() float64 {
				const n = 2000
				buf := make([]byte, 64)
				start := time.Now()
				for range n {
					if _, err := c.WriteToUDPAddrPort(buf[:32], to); err != nil {
						b.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(time.Second))
					if _, err := c.Read(buf); err != nil {
						b.Fatal(err)
					}
				}
				return n / time.Since(start).Seconds()
			}
			roundTrips()
			b.ResetTimer()
			plain, counted := stattest.Alternate(b.N, roundTrips, func() float64 {
				if err := errors.Join(setCounting(p.A.Fd(), list(p.B.Addr)), setCounting(p.B.Fd(), list(p.A.Addr))); err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := errors.Join(stopCounting(p.A.Fd()), stopCounting(p.B.Fd())); err != nil {
						b.Fatal(err)
					}
				}()
				return roundTrips()
			})
			b.ReportMetric(plain, "plain-rt/s")
			b.ReportMetric(counted, "counted-rt/s")
			b.ReportMetric(counted/plain, "counted/plain")
		})
	}
}
