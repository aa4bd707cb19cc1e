package impair

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdTimer is a one-shot timer on a Linux timerfd, waited for through the
// Go runtime's poller. A time.Timer wakes up to a millisecond late (the
// poller sleeps in whole milliseconds); a timerfd wakes the poller on
// time, which keeps a delay within tens of microseconds.
//
// Arm and Wait may be called from different goroutines.
type fdTimer struct {
	f  *os.File
	rc syscall.RawConn
}

func newFDTimer() (*fdTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create timerfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	return &fdTimer{f: f, rc: rc}, nil
}

// Arm makes the timer fire after d (at once if d ≤ 0), replacing any
// earlier arming.
func (t *fdTimer) Arm(d time.Duration) error {
	d = max(d, time.Nanosecond) // zero would disarm
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	return t.settime(&spec)
}

// Disarm stops the timer.
func (t *fdTimer) Disarm() error { return t.settime(&unix.ItimerSpec{}) }

func (t *fdTimer) settime(spec *unix.ItimerSpec) error {
	var err error
	cerr := t.rc.Control(func(fd uintptr) {
		err = unix.TimerfdSettime(int(fd), 0, spec, nil)
	})
	return errors.Join(cerr, err)
}

// Wait blocks until the timer fires or it is closed.
func (t *fdTimer) Wait() error {
	var buf [8]byte
	var err error
	rerr := t.rc.Read(func(fd uintptr) bool {
		_, err = unix.Read(int(fd), buf[:])
		return err != unix.EAGAIN && err != unix.EINTR
	})
	return errors.Join(rerr, err)
}

// Close releases the timer; a blocked Wait returns an error.
func (t *fdTimer) Close() error { return t.f.Close() }
