package netd

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/docker/internal/impair/netnstest"
)

// The lockdown test plays a cluster on the test pair's addresses: A is a
// sandboxed node of 192.0.2.0/24, B another node (192.0.2.2) that also
// holds the network's gateway (192.0.2.254) and an address of another
// network (198.51.100.2, TEST-NET-2), which stands for anywhere outside.
// Every address exists only inside the two test namespaces.
var (
	lockSubnet  = netip.MustParsePrefix("192.0.2.0/24")
	lockGateway = netip.MustParseAddr("192.0.2.254")
	lockOutside = netip.MustParseAddr("198.51.100.2")
)

func lockdownPair(t *testing.T) *netnstest.Pair {
	t.Helper()
	p := netnstest.NewPair(t)
	for _, args := range [][]string{
		{"-n", p.B.Name, "addr", "add", lockGateway.String() + "/24", "dev", p.B.Dev},
		{"-n", p.B.Name, "addr", "add", lockOutside.String() + "/24", "dev", p.B.Dev},
		{"-n", p.A.Name, "route", "add", "198.51.100.0/24", "dev", p.A.Dev},
	} {
		if _, err := p.A.Run("ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// listen starts an echo server on addr inside ns.
func listen(t *testing.T, ns *netnstest.NS, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// dial connects from ns (from the local address from, if valid) to to,
// sends a line and reads it back.
func dial(ns *netnstest.NS, from netip.Addr, to netip.AddrPort) error {
	var c net.Conn
	err := ns.Do(func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		if from.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
		}
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	return err
}

func TestLockdown(t *testing.T) {
	p := lockdownPair(t)
	node := listen(t, p.B, netnstest.AddrB)
	gateway := listen(t, p.B, lockGateway)
	outside := listen(t, p.B, lockOutside)
	own := listen(t, p.A, netnstest.AddrA)
	loop := listen(t, p.A, netip.MustParseAddr("127.0.0.1"))

	// Before: A reaches everything.
	for _, to := range []netip.AddrPort{node, gateway, outside, loop} {
		if err := dial(p.A, netip.Addr{}, to); err != nil {
			t.Fatalf("before the lockdown, %v: %v", to, err)
		}
	}

	if err := setLockdown(p.A.Fd(), Lockdown{Subnet: lockSubnet, Gateway: lockGateway}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ns      *netnstest.NS
		from    netip.Addr
		to      netip.AddrPort
		blocked bool
	}{
		{"to another node", p.A, netip.Addr{}, node, false},
		{"over loopback", p.A, netip.Addr{}, loop, false},
		{"to the gateway (the host)", p.A, netip.Addr{}, gateway, true},
		{"to another network", p.A, netip.Addr{}, outside, true},
		{"from the gateway, as the runner's requests come", p.B, lockGateway, own, false},
		{"from another node", p.B, netnstest.AddrB, own, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := dial(tc.ns, tc.from, tc.to)
			switch {
			case tc.blocked && !refused(err):
				t.Errorf("got %v; want the connection refused on the way out", err)
			case !tc.blocked && err != nil:
				t.Errorf("got %v; want it to work", err)
			}
		})
	}
	t.Run("to Docker's DNS", func(t *testing.T) {
		err := p.A.Do(func() error {
			c, err := net.Dial("udp", "127.0.0.11:53")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("query"))
			return err
		})
		if !refused(err) {
			t.Errorf("got %v; want the datagram refused", err)
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		err := p.A.Do(func() error {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(netnstest.Addr6B, 9).String(), 2*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if !refused(err) {
			t.Errorf("got %v; want IPv6 refused on the way out", err)
		}
	})

	// Installing it again replaces the rules rather than adding to them.
	if err := setLockdown(p.A.Fd(), Lockdown{Subnet: lockSubnet, Gateway: lockGateway}); err != nil {
		t.Fatal(err)
	}
	out, err := p.A.Run("nft", "list", "table", "inet", lockdownTable)
	if err != nil {
		t.Skipf("the nft command cannot read the rules back: %v", err)
	}
	t.Log(out)
	for _, want := range []string{
		"policy drop;",
		"ip daddr 127.0.0.11 reject with icmpx admin-prohibited",
		"ct state established,related accept",
		"ip daddr 192.0.2.254 reject with icmpx admin-prohibited",
		"ip daddr 192.0.2.0/24 accept",
		"/24 accept\n\t\treject with icmpx admin-prohibited\n",
	} {
		if strings.Count(out, want) != 1 {
			t.Errorf("nft shows %q %d times; want once", want, strings.Count(out, want))
		}
	}
}

func TestLockdownRequest(t *testing.T) {
	req := Request{Op: "lockdown", Lockdown: &Lockdown{Subnet: lockSubnet, Gateway: lockGateway}}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"lockdown","lockdown":{"Subnet":"192.0.2.0/24","Gateway":"192.0.2.254"}}`
	if string(b) != want {
		t.Errorf("request %s; want %s", b, want)
	}
	var back Request
	if err := json.Unmarshal(b, &back); err != nil || back.Lockdown.Subnet != lockSubnet {
		t.Errorf("read back %+v, %v", back, err)
	}
	for _, bad := range []Lockdown{
		{Subnet: lockSubnet, Gateway: netip.MustParseAddr("10.0.0.1")},
		{Subnet: netip.MustParsePrefix("2001:db8::/64"), Gateway: netip.MustParseAddr("2001:db8::1")},
	} {
		if err := setLockdown(0, bad); err == nil || !strings.Contains(err.Error(), "lockdown:") {
			t.Errorf("setLockdown(%v) = %v; want it refused", bad, err)
		}
	}
	d := &daemon{}
	if resp := d.do(t.Context(), Request{Op: "lockdown"}); !strings.Contains(resp.Error, "subnet") {
		t.Errorf("lockdown without a subnet: %+v", resp)
	}
}

// refused reports whether err is the lockdown's answer: at once, not a
// timeout.
func refused(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
