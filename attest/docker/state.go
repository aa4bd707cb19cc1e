package docker

import (
	"context"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// thawSettle bounds how long clstr waits for Docker's record of a
// container to leave the paused state after a thaw it did not need.
const thawSettle = 5 * time.Second

// thawed reports whether the container is no longer paused, after a call
// to unpause it failed. Signalling a paused container can make Docker, or
// the runtime under it, thaw it on its own, so clstr's own thaw can find the container already running
// ("cannot resume a running process") or, when the signal ended it,
// already stopped ("cannot resume a stopped container"): either way the
// state asked for is reached. Docker learns of the thaw and of the exit
// from events, so its record may still say paused for a moment; it is
// asked again until it does not, or until thawSettle has passed.
func (c *dockerCluster) thawed(ctx context.Context, id string) bool {
	deadline := time.Now().Add(thawSettle)
	for {
		info, err := c.rt.cli.ContainerInspect(ctx, id)
		switch {
		case err == nil && (info.State == nil || !info.State.Paused):
			return true
		case cerrdefs.IsNotFound(err):
			return true
		case time.Now().After(deadline):
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exited reports whether the container has stopped, after a signal to it
// failed: a container that exits on its own between clstr's check and its
// signal is where the signal would have taken it.
func (c *dockerCluster) exited(ctx context.Context, id string) bool {
	info, err := c.rt.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return true
	}
	return err == nil && (info.State == nil || !info.State.Running)
}

// pauseAttempts bounds how often clstr asks Docker to freeze a running
// container that it failed to freeze.
const pauseAttempts = 4

// pause freezes the container. The cgroup freezer can fail to freeze a
// process caught in the middle of a fork or an exit (Docker answers
// "unable to freeze"); when Docker's record says the container still runs
// and is not paused, clstr asks again, a few times, before it gives up.
func (c *dockerCluster) pause(ctx context.Context, id string) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = c.rt.cli.ContainerPause(ctx, id); err == nil {
			return nil
		}
		info, ierr := c.rt.cli.ContainerInspect(ctx, id)
		switch {
		case ierr == nil && info.State != nil && info.State.Paused:
			return nil
		case ierr != nil || info.State == nil || !info.State.Running || attempt == pauseAttempts:
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}
