//go:build linux

// Package netnstest gives tests two network namespaces of their own,
// joined by a veth pair, so that they can shape and measure real traffic
// without touching any other interface or address.
//
// The pair uses addresses reserved for documentation: 192.0.2.1 and
// 192.0.2.2 (TEST-NET-1), 2001:db8::1 and 2001:db8::2. They exist only
// inside the two namespaces, and traffic between them never leaves the
// machine.
package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"time"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"

	"golang.org/x/sys/unix"
)

// Addresses of the two ends of a Pair.
var (
	AddrA  = netip.MustParseAddr("192.0.2.1")
	AddrB  = netip.MustParseAddr("192.0.2.2")
	Addr6A = netip.MustParseAddr("2001:db8::1")
	Addr6B = netip.MustParseAddr("2001:db8::2")
)

// namePrefix starts the name of every namespace this package creates;
// the process ID follows, so leftovers of a killed test run can be found.
const namePrefix = "clstr-imptest-"

// NS is a network namespace created for a test.
type NS struct {
	// Name is the namespace's name under /run/netns.
	Name string
	// Dev is the name of its end of the veth pair.
	Dev string
	// Addr and Addr6 are its addresses on the veth.
	Addr, Addr6 netip.Addr
	f           *os.File
}

// Fd is an open descriptor of the namespace, valid until the test ends.
func (ns *NS) Fd() int { return int(ns.f.Fd()) }

// Do runs f on an OS thread inside the namespace. Sockets that f creates
// belong to the namespace and may be used from any goroutine afterwards.
func (ns *NS) Do(f func() error) error { return Do(ns.Fd(), f) }

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Pair is two namespaces joined by a veth pair.
type Pair struct {
	A, B *NS
}

var counter atomic.Int64

// SkipUnlessAvailable skips the test unless it runs as root with a
// working "ip netns".
func SkipUnlessAvailable(t testing.TB) {
	t.Helper()
	testenv.Long(t, "it creates network namespaces")
	if os.Geteuid() != 0 {
		t.Skip("skipped: creating network namespaces needs root; run the tests as root (e.g. sudo go test) to measure real traffic")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: iproute2's ip command is not installed (apt-get install iproute2)")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("skipped: ip netns is unavailable here: %v: %s", err, bytes.TrimSpace(out))
	}
}

// NewPair creates two namespaces joined by a veth pair with the package's
// addresses, and removes them when the test ends, even if it fails. It
// skips the test where namespaces cannot be created.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	SkipUnlessAvailable(t)
	removeLeftovers(t)
	n := counter.Add(1)
	base := fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), n)
	p := &Pair{
		A: &NS{Name: base + "-a", Dev: "veth-a", Addr: AddrA, Addr6: Addr6A},
		B: &NS{Name: base + "-b", Dev: "veth-b", Addr: AddrB, Addr6: Addr6B},
	}
	for _, ns := range []*NS{p.A, p.B} {
		run(t, "ip", "netns", "add", ns.Name)
		t.Cleanup(func() {
			if ns.f != nil {
				ns.f.Close()
			}
			if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
				t.Errorf("remove test namespace %s: %v: %s", ns.Name, err, out)
			}
		})
		f, err := os.Open(filepath.Join("/run/netns", ns.Name))
		if err != nil {
			t.Fatalf("open namespace %s: %v", ns.Name, err)
		}
		ns.f = f
		// Without duplicate address detection IPv6 works at once, instead
		// of a second or two after the link comes up.
		err = ns.Do(func() error {
			return errors.Join(
				os.WriteFile("/proc/sys/net/ipv6/conf/all/accept_dad", []byte("0"), 0),
				os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0))
		})
		if err != nil {
			t.Fatalf("turn off IPv6 duplicate address detection in %s: %v", ns.Name, err)
		}
	}
	run(t, "ip", "-n", p.A.Name, "link", "add", p.A.Dev, "type", "veth", "peer", "name", p.B.Dev, "netns", p.B.Name)
	for _, ns := range []*NS{p.A, p.B} {
		// Neighbour solicitations every 100ms rather than every second:
		// one sent before the link is up is soon repeated.
		err := ns.Do(func() error {
			return errors.Join(
				os.WriteFile("/proc/sys/net/ipv4/neigh/"+ns.Dev+"/retrans_time_ms", []byte("100"), 0),
				os.WriteFile("/proc/sys/net/ipv6/neigh/"+ns.Dev+"/retrans_time_ms", []byte("100"), 0))
		})
		if err != nil {
			t.Fatalf("speed up neighbour discovery in %s: %v", ns.Name, err)
		}
		run(t, "ip", "-n", ns.Name, "addr", "add", ns.Addr.String()+"/24", "dev", ns.Dev)
		run(t, "ip", "-n", ns.Name, "addr", "add", ns.Addr6.String()+"/64", "dev", ns.Dev, "nodad")
		run(t, "ip", "-n", ns.Name, "link", "set", ns.Dev, "up")
		run(t, "ip", "-n", ns.Name, "link", "set", "lo", "up")
	}
	for _, pair := range [][2]*NS{{p.A, p.B}, {p.B, p.A}} {
		for _, v6 := range []bool{false, true} {
			if err := reach(pair[0], pair[1], v6); err != nil {
				t.Fatalf("test namespaces are not ready: %v", err)
			}
		}
	}
	return p
}

// reach sends datagrams from one namespace to the other until one arrives:
// a new link carries nothing until the kernel's link watch activates it,
// up to a second after it comes up, and the first exchange also resolves
// the neighbours, so that tests measure no neighbour discovery.
func reach(from, to *NS, v6 bool) error {
	network, src, dst := "udp4", from.Addr, to.Addr
	if v6 {
		network, src, dst = "udp6", from.Addr6, to.Addr6
	}
	var rx, tx *net.UDPConn
	if err := to.Do(func() (err error) {
		rx, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}); err != nil {
		return err
	}
	defer rx.Close()
	if err := from.Do(func() (err error) {
		tx, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		return err
	}
	defer tx.Close()
	buf := make([]byte, 16)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		tx.Write([]byte("ready?"))
		rx.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := rx.Read(buf); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no datagram from %v to %v within 5s", src, dst)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// removeLeftovers deletes namespaces of earlier test processes that died
// before their cleanup ran.
func removeLeftovers(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) == nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("remove leftover namespace %s: %v: %s", name, err, out)
		}
	}
}

// Do runs f on an OS thread that has entered the network namespace fd.
// The thread is never returned to the Go scheduler: it ends with f.
func Do(fd int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Deliberately no UnlockOSThread: the thread is in another
		// namespace and must die with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
