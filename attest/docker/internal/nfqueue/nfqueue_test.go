//go:build linux

package nfqueue_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
	"github.com/clstr-dev/clstr/attest/docker/internal/nfqueue"
)

const testQueue = 4242

// queueAll installs, in ns, an output rule that sends every UDP packet to
// testQueue with bypass.
func queueAll(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "nfqueue_test"})
	policy := nftables.ChainPolicyAccept
	chain := c.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		nfqueue.Target(testQueue, true),
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("install NFQUEUE rule: %v", err)
	}
}

// udpPair returns a socket in A connected to a socket in B.
func udpPair(t *testing.T, p *netnstest.Pair) (from, to *net.UDPConn) {
	t.Helper()
	err := p.B.Do(func() (err error) {
		to, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.B.Addr, 0)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { to.Close() })
	err = p.A.Do(func() (err error) {
		from, err = net.DialUDP("udp4", nil, to.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { from.Close() })
	return from, to
}

func open(t *testing.T, ns *netnstest.NS, cfg nfqueue.Config) *nfqueue.Conn {
	t.Helper()
	cfg.NetNS = ns.Fd()
	q, err := nfqueue.Open(testQueue, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// receive reads packets until n arrived or the deadline passes, copying
// their payloads.
func receive(t *testing.T, q *nfqueue.Conn, n int) []nfqueue.Packet {
	t.Helper()
	var got []nfqueue.Packet
	deadline := time.Now().Add(2 * time.Second)
	for len(got) < n {
		if err := q.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		pkts, err := q.Receive()
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), n, err)
		}
		for _, p := range pkts {
			p.Payload = bytes.Clone(p.Payload)
			got = append(got, p)
		}
	}
	return got
}

func read(conn *net.UDPConn, wait time.Duration) (string, error) {
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(wait))
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

func TestQueueAcceptAndDrop(t *testing.T) {
	p := netnstest.NewPair(t)
	queueAll(t, p.A)
	q := open(t, p.A, nfqueue.Config{CopyRange: 0xffff})
	from, to := udpPair(t, p)

	for i := range 3 {
		if _, err := fmt.Fprintf(from, "msg %d", i); err != nil {
			t.Fatal(err)
		}
	}
	pkts := receive(t, q, 3)
	for i, pk := range pkts {
		if pk.HWProtocol != unix.ETH_P_IP || pk.Hook != 3 || pk.Truncated() {
			t.Errorf("packet %d: protocol %#x hook %d truncated %v, want IPv4 on output, whole", i, pk.HWProtocol, pk.Hook, pk.Truncated())
		}
		if want := fmt.Sprintf("msg %d", i); !bytes.HasSuffix(pk.Payload, []byte(want)) {
			t.Errorf("packet %d payload ends %q, want %q", i, pk.Payload[max(0, len(pk.Payload)-8):], want)
		}
	}
	// Nothing arrives before its verdict.
	if msg, err := read(to, 100*time.Millisecond); err == nil {
		t.Fatalf("received %q before any verdict", msg)
	}
	// Verdicts out of order: the third, then drop the second, then the first.
	if err := q.SetVerdict(pkts[2].ID, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	if err := q.SetVerdicts([]nfqueue.VerdictFor{{ID: pkts[1].ID, Verdict: nfqueue.Drop}, {ID: pkts[0].ID, Verdict: nfqueue.Accept}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		msg, err := read(to, 300*time.Millisecond)
		if err != nil {
			break
		}
		got = append(got, msg)
	}
	if want := []string{"msg 2", "msg 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %q, want %q", got, want)
	}
}

func TestQueueMetadataOnly(t *testing.T) {
	p := netnstest.NewPair(t)
	queueAll(t, p.A)
	q := open(t, p.A, nfqueue.Config{})
	from, to := udpPair(t, p)
	fmt.Fprint(from, "hello")
	pk := receive(t, q, 1)[0]
	if len(pk.Payload) != 0 || pk.Len != 0 && pk.Len < 5 {
		t.Errorf("metadata-only packet has %d payload bytes (len %d), want none", len(pk.Payload), pk.Len)
	}
	if err := q.SetVerdict(pk.ID, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	if msg, err := read(to, time.Second); err != nil || msg != "hello" {
		t.Errorf("received %q, %v; want hello", msg, err)
	}
}

func TestUnknownIDIsKernelError(t *testing.T) {
	p := netnstest.NewPair(t)
	queueAll(t, p.A)
	q := open(t, p.A, nfqueue.Config{CopyRange: 64})
	if err := q.SetVerdict(999999, nfqueue.Accept); err != nil {
		t.Fatal(err)
	}
	q.SetReadDeadline(time.Now().Add(time.Second))
	_, err := q.Receive()
	var kerr *nfqueue.KernelError
	if !errors.As(err, &kerr) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("verdict for an unknown packet: Receive returned %v, want a KernelError with ENOENT", err)
	}
	// The connection still works afterwards.
	from, to := udpPair(t, p)
	fmt.Fprint(from, "after")
	pk := receive(t, q, 1)[0]
	q.SetVerdict(pk.ID, nfqueue.Accept)
	if msg, err := read(to, time.Second); err != nil || msg != "after" {
		t.Errorf("received %q, %v; want after", msg, err)
	}
}

func TestBypassWithoutConsumer(t *testing.T) {
	p := netnstest.NewPair(t)
	queueAll(t, p.A)
	from, to := udpPair(t, p)
	fmt.Fprint(from, "no consumer")
	if msg, err := read(to, time.Second); err != nil || msg != "no consumer" {
		t.Fatalf("with no queue bound: received %q, %v; want the packet to bypass", msg, err)
	}
	// A consumer that goes away lets traffic through again.
	q := open(t, p.A, nfqueue.Config{CopyRange: 64})
	fmt.Fprint(from, "held")
	pk := receive(t, q, 1)[0]
	_ = pk
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(from, "after close")
	if msg, err := read(to, time.Second); err != nil || msg != "after close" {
		t.Errorf("after Close: received %q, %v; want the packet to bypass", msg, err)
	}
}

func TestQueueBusy(t *testing.T) {
	p := netnstest.NewPair(t)
	open(t, p.A, nfqueue.Config{})
	_, err := nfqueue.Open(testQueue, nfqueue.Config{NetNS: p.A.Fd()})
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("binding a bound queue: %v, want EPERM", err)
	}
	// The same number in another namespace is another queue.
	q, err := nfqueue.Open(testQueue, nfqueue.Config{NetNS: p.B.Fd()})
	if err != nil {
		t.Fatalf("same queue number in another namespace: %v", err)
	}
	q.Close()
}

func TestReceiveAfterClose(t *testing.T) {
	p := netnstest.NewPair(t)
	q := open(t, p.A, nfqueue.Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	q.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, nfqueue.ErrClosed) {
			t.Errorf("blocked Receive returned %v after Close, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake a blocked Receive")
	}
	if err := q.SetVerdict(1, nfqueue.Accept); !errors.Is(err, nfqueue.ErrClosed) {
		t.Errorf("SetVerdict after Close: %v, want ErrClosed", err)
	}
}

func TestReadDeadline(t *testing.T) {
	p := netnstest.NewPair(t)
	q := open(t, p.A, nfqueue.Config{})
	q.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := q.Receive()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Receive past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Receive returned after %v, want about 50ms", d)
	}
}
