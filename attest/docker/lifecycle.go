package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// lock finds the named node and takes its lock, which serialises its
// lifecycle operations; the caller unlocks n.mu.
func (c *dockerCluster) lock(name string) (*node, error) {
	n, err := c.node(name)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	return n, nil
}

// Start implements cluster.Cluster.
func (c *dockerCluster) Start(ctx context.Context, name string) error {
	n, err := c.lock(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	if n.running {
		return nil
	}
	c.firstNodeStart.CompareAndSwap(0, time.Now().UnixNano())
	if err := c.rt.cli.ContainerStart(ctx, n.containerID, container.StartOptions{}); err != nil {
		return &cluster.TargetError{Err: fmt.Errorf("%s: start: %w", n.name, err)}
	}
	n.running = true
	c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventStart})
	c.followers.Add(1)
	go func() {
		defer c.followers.Done()
		c.follow(c.logCtx, n)
	}()
	return nil
}

// Stop implements cluster.Cluster: SIGTERM, then SIGKILL after the
// shutdown timeout. Docker's own stop and restart are not used, because on
// some daemon versions a restart with a signal silently stops gracefully.
func (c *dockerCluster) Stop(ctx context.Context, name string) error {
	return c.halt(ctx, name, "SIGTERM")
}

// Kill implements cluster.Cluster: SIGKILL at once.
func (c *dockerCluster) Kill(ctx context.Context, name string) error {
	return c.halt(ctx, name, "SIGKILL")
}

func (c *dockerCluster) halt(ctx context.Context, name, signal string) error {
	n, err := c.lock(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	cli := c.rt.cli
	// Wait registered before the signal, so the exit cannot be missed.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, waitErr := cli.ContainerWait(wctx, n.containerID, container.WaitConditionNotRunning)
	if err := cli.ContainerKill(ctx, n.containerID, signal); err != nil && !c.exited(ctx, n.containerID) {
		return fmt.Errorf("%s: send %s: %w", n.name, signal, err)
	}
	// The signal waits for the thaw; a SIGKILL has already done its work
	// by then.
	if err := c.thaw(ctx, n, "thaw to stop"); err != nil {
		return err
	}
	timeout := c.shutdownTimeout
	if signal == "SIGKILL" {
		timeout = cleanupTimeout
	}
	event := cluster.EventKill
	select {
	case <-exited:
		if signal == "SIGTERM" {
			event = cluster.EventStop
		}
	case err := <-waitErr:
		return fmt.Errorf("%s: wait for exit: %w", n.name, err)
	case <-time.After(timeout):
		if signal == "SIGKILL" {
			return fmt.Errorf("%s: still running %v after SIGKILL", n.name, timeout)
		}
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventStopTimeout, Wait: timeout})
		if err := cli.ContainerKill(ctx, n.containerID, "SIGKILL"); err != nil && !c.exited(ctx, n.containerID) {
			return fmt.Errorf("%s: send SIGKILL: %w", n.name, err)
		}
		select {
		case <-exited:
		case err := <-waitErr:
			return fmt.Errorf("%s: wait for exit: %w", n.name, err)
		}
	}
	n.running = false
	c.events.Add(cluster.Event{Node: n.name, Kind: event})
	return nil
}

// Pause implements cluster.Cluster with Docker's pause, which freezes the
// node container's cgroup: the process keeps its sockets, which live in
// the sandbox's namespace, and gets no CPU until Resume.
func (c *dockerCluster) Pause(ctx context.Context, name string) error {
	n, err := c.lock(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	if err := cluster.ValidatePause(n.name, n.running); err != nil {
		return err
	}
	if c.faults.Paused(n.name) {
		return nil
	}
	if err := c.pause(ctx, n.containerID); err != nil {
		return fmt.Errorf("%s: pause: %w", n.name, err)
	}
	c.faults.Pause(n.name)
	c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPause})
	return nil
}

// Resume implements cluster.Cluster.
func (c *dockerCluster) Resume(ctx context.Context, name string) error {
	n, err := c.lock(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	return c.thaw(ctx, n, "resume")
}

// thaw ends the node's pause, if it has one: Docker may have thawed the
// container itself, which is no error. why names the operation in an
// error. The caller holds n.mu.
func (c *dockerCluster) thaw(ctx context.Context, n *node, why string) error {
	if !c.faults.Paused(n.name) {
		return nil
	}
	if err := c.rt.cli.ContainerUnpause(ctx, n.containerID); err != nil && !c.thawed(ctx, n.containerID) {
		return fmt.Errorf("%s: %s: %w", n.name, why, err)
	}
	c.faults.Resume(n.name)
	c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventResume})
	return nil
}

// Paused implements cluster.Cluster.
func (c *dockerCluster) Paused(name string) bool {
	return c.faults.Paused(name)
}
