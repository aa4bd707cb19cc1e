//go:build linux

// Package nfqueue is a small client of the kernel's nfnetlink_queue
// subsystem: it binds one queue, receives the packets that an NFQUEUE rule
// sends to it, and issues a verdict for each.
//
// The kernel holds every queued packet until its verdict arrives, and
// verdicts may come in any order: a packet is identified by its ID, not by
// its position. If the Conn goes away, the kernel drops the packets it
// still holds, and a rule installed with bypass (see Target) lets later
// packets through untouched.
package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Verdict is what happens to a queued packet.
type Verdict uint32

const (
	// Drop discards the packet (NF_DROP).
	Drop Verdict = 0
	// Accept lets the packet continue through the network stack (NF_ACCEPT).
	Accept Verdict = 1
)

// Config says how a queue is bound.
type Config struct {
	// CopyRange is how many bytes of each packet are copied to userspace,
	// at most 65535. Zero copies only metadata (no payload).
	CopyRange uint32
	// MaxLen is the most packets the kernel holds waiting for a verdict;
	// zero keeps the kernel's default (1024).
	MaxLen uint32
	// FailOpen lets packets through when the queue is full or the Conn
	// cannot take them, instead of dropping them.
	FailOpen bool
	// ReadBuffer is the socket receive buffer in bytes; zero keeps the
	// system default. Set as root it can exceed net.core.rmem_max.
	ReadBuffer int
	// NetNS is an open file descriptor of the network namespace whose
	// queue to bind; zero means the namespace of the calling thread.
	NetNS int
}

// Packet is one queued packet.
type Packet struct {
	// ID identifies the packet in its verdict.
	ID uint32
	// HWProtocol is the packet's EtherType: 0x0800 for IPv4, 0x86dd for IPv6.
	HWProtocol uint16
	// Hook is the netfilter hook that queued it (3 is output).
	Hook uint8
	// Mark is the packet's firewall mark.
	Mark uint32
	// InDev and OutDev are interface indexes, zero where not known.
	InDev, OutDev uint32
	// Len is the packet's full length; Payload holds its first
	// Config.CopyRange bytes, from the network header on.
	Len     uint32
	Payload []byte
}

// Truncated reports whether Payload holds less than the whole packet.
func (p Packet) Truncated() bool { return uint32(len(p.Payload)) < p.Len }

// VerdictFor pairs a packet ID with its verdict.
type VerdictFor struct {
	ID      uint32
	Verdict Verdict
}

// ErrClosed is returned by Receive after Close.
var ErrClosed = errors.New("nfqueue: connection closed")

// Conn is a bound queue. Receive may run in one goroutine while verdicts
// are sent from others.
type Conn struct {
	nl       *netlink.Conn
	raw      syscall.RawConn
	queue    uint16
	buf      []byte // receive buffer; used by Receive only
	closed   atomic.Bool
	deadline atomic.Int64 // of Receive, in Unix nanoseconds; 0 for none
}

// wakeEvery is how often a blocked Receive looks whether the Conn was
// closed or its deadline passed.
const wakeEvery = 10 * time.Millisecond

// headerLen is the size of struct nlmsghdr.
const headerLen = 16

// Open binds queue number queue in the network namespace of cfg.NetNS. It
// fails with an error matching unix.EPERM if another socket has bound the
// same queue in that namespace.
func Open(queue uint16, cfg Config) (*Conn, error) {
	if cfg.CopyRange > 0xffff {
		return nil, fmt.Errorf("nfqueue: copy range %d exceeds 65535", cfg.CopyRange)
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, fmt.Errorf("nfqueue: open netfilter netlink socket (needs CAP_NET_ADMIN): %w", err)
	}
	c := &Conn{nl: nl, queue: queue, buf: make([]byte, 0xffff+4096)}
	if err := c.init(cfg); err != nil {
		nl.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) init(cfg Config) error {
	// Without this, a burst that overflows the socket buffer surfaces as
	// ENOBUFS on the next read; the packets themselves are failed open or
	// dropped by the kernel either way.
	if err := c.nl.SetOption(netlink.NoENOBUFS, true); err != nil {
		return fmt.Errorf("nfqueue: set NETLINK_NO_ENOBUFS: %w", err)
	}
	raw, err := c.nl.SyscallConn()
	if err != nil {
		return fmt.Errorf("nfqueue: %w", err)
	}
	c.raw = raw
	// Receive blocks in recvmsg itself rather than in Go's poller, so
	// that the kernel wakes the receiving thread directly: under load
	// the poller's own wake-up can come milliseconds late. The timeout
	// lets a blocked Receive notice Close and deadlines.
	var serr error
	err = raw.Control(func(fd uintptr) {
		tv := unix.NsecToTimeval(int64(wakeEvery))
		serr = errors.Join(unix.SetNonblock(int(fd), false),
			unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("nfqueue: make the socket blocking: %w", err)
	}
	if cfg.ReadBuffer > 0 {
		var serr error
		err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.ReadBuffer)
			if serr != nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.ReadBuffer)
			}
		})
		if err = errors.Join(err, serr); err != nil {
			return fmt.Errorf("nfqueue: set receive buffer to %d bytes: %w", cfg.ReadBuffer, err)
		}
	}
	body, err := configMessage(c.queue, cfg)
	if err != nil {
		return err
	}
	_, err = c.nl.Execute(netlink.Message{
		Header: netlink.Header{Type: msgType(msgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   body,
	})
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EBUSY):
		return fmt.Errorf("nfqueue: bind queue %d: either another socket holds it in this network namespace (stop that process or pick another queue number) or this process lacks CAP_NET_ADMIN: %w", c.queue, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("nfqueue: the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE): %w", err)
	case err != nil:
		return fmt.Errorf("nfqueue: bind queue %d: %w", c.queue, err)
	}
	return nil
}

// Queue is the bound queue number.
func (c *Conn) Queue() uint16 { return c.queue }

// Receive waits for the next batch of queued packets. The packets' Payload
// aliases a buffer that the next Receive overwrites: copy what must live
// longer. Receive returns ErrClosed once Close was called and an error
// matching os.ErrDeadlineExceeded after the read deadline. An error the
// kernel reports for an earlier verdict (for instance an unknown ID) is
// returned as a *KernelError; the Conn stays usable.
//
// Receive waits in the recvmsg system call, so a goroutine locked to an
// OS thread of raised priority is woken as soon as a packet is queued.
func (c *Conn) Receive() ([]Packet, error) {
	for {
		if c.closed.Load() {
			return nil, ErrClosed
		}
		if dl := c.deadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
			return nil, fmt.Errorf("nfqueue: receive: %w", os.ErrDeadlineExceeded)
		}
		var n int
		var rerr error
		err := c.raw.Control(func(fd uintptr) {
			n, _, _, _, rerr = unix.Recvmsg(int(fd), c.buf, nil, 0)
		})
		if err == nil && (rerr == unix.EAGAIN || rerr == unix.EINTR) {
			continue
		}
		return c.received(n, err, rerr)
	}
}

// TryReceive is Receive without waiting: it returns no packets and no
// error when none is queued. With SyscallConn it lets a caller wait for
// the socket together with other file descriptors.
func (c *Conn) TryReceive() ([]Packet, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	var n int
	var rerr error
	err := c.raw.Control(func(fd uintptr) {
		for {
			n, _, _, _, rerr = unix.Recvmsg(int(fd), c.buf, nil, unix.MSG_DONTWAIT)
			if rerr != unix.EINTR {
				return
			}
		}
	})
	if err == nil && rerr == unix.EAGAIN {
		return nil, nil
	}
	return c.received(n, err, rerr)
}

// received ends a receive: the packets of the n bytes that recvmsg read
// into the buffer, or the error of reaching the socket (err) or else of
// recvmsg (rerr), which is ErrClosed once the Conn is closed.
func (c *Conn) received(n int, err, rerr error) ([]Packet, error) {
	if err == nil {
		err = rerr
	}
	if err != nil {
		if c.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("nfqueue: receive: %w", err)
	}
	return c.parse(c.buf[:n])
}

// SyscallConn gives access to the socket, to wait for it with poll or
// epoll. The socket must not be read or closed through it.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.raw, nil
}

// parse splits a datagram into packets.
func (c *Conn) parse(b []byte) ([]Packet, error) {
	var pkts []Packet
	var kerr error
	for len(b) >= headerLen {
		n := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		if n < headerLen || n > len(b) {
			return pkts, fmt.Errorf("nfqueue: netlink message of length %d in %d bytes", n, len(b))
		}
		body := b[headerLen:n]
		switch {
		case typ == unix.NLMSG_ERROR && len(body) >= 4:
			if code := int32(binary.NativeEndian.Uint32(body)); code != 0 {
				kerr = errors.Join(kerr, &KernelError{Err: unix.Errno(-code)})
			}
		case netlink.HeaderType(typ) == msgType(msgPacket):
			p, err := parsePacket(body)
			if err != nil {
				return pkts, fmt.Errorf("nfqueue: %w", err)
			}
			pkts = append(pkts, p)
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return pkts, kerr
}

// KernelError is an error the kernel reported for a message sent earlier,
// such as a verdict for a packet it no longer holds.
type KernelError struct{ Err error }

func (e *KernelError) Error() string { return "nfqueue: kernel refused a message: " + e.Err.Error() }

// Unwrap returns the kernel's errno.
func (e *KernelError) Unwrap() error { return e.Err }

// SetVerdict issues the verdict for one packet.
func (c *Conn) SetVerdict(id uint32, v Verdict) error {
	return c.SetVerdicts([]VerdictFor{{ID: id, Verdict: v}})
}

// SetVerdicts issues several verdicts in one system call.
func (c *Conn) SetVerdicts(vs []VerdictFor) error {
	if len(vs) == 0 {
		return nil
	}
	const msgLen = headerLen + 4 + 4 + 8
	b := make([]byte, 0, msgLen*len(vs))
	for _, v := range vs {
		b = binary.NativeEndian.AppendUint32(b, msgLen)
		b = binary.NativeEndian.AppendUint16(b, uint16(msgType(msgVerdict)))
		b = binary.NativeEndian.AppendUint16(b, uint16(netlink.Request))
		b = binary.NativeEndian.AppendUint32(b, 0) // sequence: no reply is asked for
		b = binary.NativeEndian.AppendUint32(b, 0) // port ID: the kernel's
		b = append(b, verdictMessage(c.queue, v.ID, v.Verdict)...)
	}
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return werr != unix.EAGAIN && werr != unix.EINTR
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		if c.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("nfqueue: send %d verdicts: %w", len(vs), err)
	}
	return nil
}

// SetReadDeadline makes a blocked or later Receive return at t (within
// about 10ms); the zero time removes the deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(max(t.UnixNano(), 1))
	}
	return nil
}

// Close unbinds the queue. The kernel drops the packets still waiting for
// a verdict; a Receive blocked in another goroutine returns ErrClosed.
// Close may wait up to 10ms for such a Receive to let go of the socket.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.nl.Close(); err != nil {
		return fmt.Errorf("nfqueue: close queue %d: %w", c.queue, err)
	}
	return nil
}

// Target is the nf_tables expression that sends a packet to queue: the
// xtables NFQUEUE target, revision 3, through nf_tables' compat layer. It
// works on kernels without nft_queue. With bypass, packets pass untouched
// while no Conn has the queue bound.
func Target(queue uint16, bypass bool) *expr.Target {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total;
	// __u16 flags; }, in host order.
	const flagBypass = 0x01 // NFQ_FLAG_BYPASS
	info := make([]byte, 6)
	binary.NativeEndian.PutUint16(info[0:], queue)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], flagBypass)
	}
	ux := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &ux}
}
