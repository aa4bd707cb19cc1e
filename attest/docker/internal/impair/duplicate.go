//go:build linux

package impair

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// duplicator sends copies of queued packets through raw sockets whose
// packets carry a mark that the rules let pass, so that a copy is neither
// queued again nor lost a second time.
type duplicator struct {
	fd4, fd6 int // -1 where the family is unavailable
}

// newDuplicator opens the raw sockets in the namespace netns (0: the
// calling thread's).
func newDuplicator(netns int, mark uint32) (*duplicator, error) {
	d := &duplicator{fd4: -1, fd6: -1}
	err := inNetNS(netns, func() error {
		var err4, err6 error
		d.fd4, err4 = rawSocket(unix.AF_INET, mark)
		d.fd6, err6 = rawSocket(unix.AF_INET6, mark)
		if err4 != nil && err6 != nil {
			return fmt.Errorf("open raw sockets to send duplicates (needs CAP_NET_RAW): %w", errors.Join(err4, err6))
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// rawSocket opens a socket that sends whole IP packets (IPPROTO_RAW
// implies the header is included) with the given mark.
func rawSocket(family int, mark uint32) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("raw socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mark raw socket: %w", err)
	}
	return fd, nil
}

// send sends a copy of the IP packet pkt. outdev scopes IPv6 link-local
// destinations.
func (d *duplicator) send(pkt []byte, outdev uint32) error {
	if len(pkt) < 1 {
		return errors.New("empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 || d.fd4 < 0 {
			return errors.New("cannot send IPv4 copy")
		}
		sa := &unix.SockaddrInet4{}
		copy(sa.Addr[:], pkt[16:20])
		return unix.Sendto(d.fd4, pkt, unix.MSG_DONTWAIT, sa)
	case 6:
		if len(pkt) < 40 || d.fd6 < 0 {
			return errors.New("cannot send IPv6 copy")
		}
		sa := &unix.SockaddrInet6{}
		copy(sa.Addr[:], pkt[24:40])
		if sa.Addr[0] == 0xfe && sa.Addr[1]&0xc0 == 0x80 || sa.Addr[0] == 0xff {
			sa.ZoneId = outdev
		}
		return unix.Sendto(d.fd6, pkt, unix.MSG_DONTWAIT, sa)
	}
	return fmt.Errorf("not an IP packet (version %d)", pkt[0]>>4)
}

// Close closes the sockets.
func (d *duplicator) Close() error {
	var err error
	for _, fd := range []int{d.fd4, d.fd6} {
		if fd >= 0 {
			err = errors.Join(err, unix.Close(fd))
		}
	}
	d.fd4, d.fd6 = -1, -1
	return err
}

// inNetNS runs f on an OS thread inside the network namespace netns, or
// directly if netns is 0. Sockets f opens stay in that namespace.
func inNetNS(netns int, f func() error) error {
	if netns == 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread has left the process's namespace
		// and must end with this goroutine rather than run other code.
		runtime.LockOSThread()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
