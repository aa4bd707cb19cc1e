package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"
)

// createNode creates the node's volume, sandbox and container, and starts
// them; a spare node is created but not started. Calls that do not depend
// on each other overlap: the volume and the sandbox are created together,
// the sandbox starts while the target's image may still be building, the
// node's container is created (once targetImage returns) while the sandbox
// starts (Docker resolves "container:<sandbox>" at start), and the sandbox's
// host port is learnt while the node starts. The node starts as soon as its
// own sandbox is up, whatever the other nodes' are doing.
func (c *dockerCluster) createNode(ctx context.Context, n *node, targetImage func() (string, error), netdImage string) error {
	prefix := "clstr-" + c.run + "-" + n.name
	var volErr error
	volDone := make(chan struct{})
	go func() {
		defer close(volDone)
		volErr = c.createVolume(ctx, n, prefix+"-data")
	}()
	sbErr := c.createSandbox(ctx, n, netdImage, prefix+"-net")
	<-volDone
	if err := errors.Join(sbErr, volErr); err != nil {
		return err
	}

	started := make(chan error, 1)
	go func() { started <- c.startSandbox(ctx, n) }()
	image, ctErr := targetImage()
	if ctErr == nil {
		ctErr = c.createContainer(ctx, n, image, prefix)
	}
	if err := errors.Join(<-started, ctErr); err != nil {
		return err
	}
	// The node needs its sandbox running, not its host port: learn that
	// while the node starts.
	ported := make(chan error, 1)
	go func() { ported <- c.learnHostPort(ctx, n) }()
	var startErr error
	if !c.spare(n) {
		startErr = c.Start(ctx, n.name)
	}
	return errors.Join(<-ported, startErr)
}

// spare reports whether n is outside the initial configuration.
func (c *dockerCluster) spare(n *node) bool {
	return slices.Index(c.nodes, n) >= c.members
}

func (c *dockerCluster) createVolume(ctx context.Context, n *node, name string) error {
	vol, err := c.rt.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: c.rt.labels.forRun(c.run, "data", n.name)})
	if err != nil {
		return fmt.Errorf("%s: create data volume: %w", n.name, err)
	}
	n.volume = vol.Name
	return nil
}

// sandboxPort is the node's port as the sandbox exposes it.
var sandboxPort = nat.Port(fmt.Sprintf("%d/tcp", nodePort))

// createSandbox creates the container that holds the node's network
// namespace, address and published port, and runs clstr-netd.
func (c *dockerCluster) createSandbox(ctx context.Context, n *node, netdImage, name string) error {
	sb, err := c.rt.cli.ContainerCreate(ctx,
		&container.Config{
			Image:        netdImage,
			Hostname:     n.name,
			ExposedPorts: nat.PortSet{sandboxPort: struct{}{}},
			Labels:       c.rt.labels.forRun(c.run, "sandbox", n.name),
		},
		c.rt.confine(roleSandbox, &container.HostConfig{
			NetworkMode:  container.NetworkMode("clstr-" + c.run),
			PortBindings: nat.PortMap{sandboxPort: {{HostIP: "127.0.0.1", HostPort: ""}}},
			CapDrop:      []string{"ALL"},
			CapAdd:       []string{"NET_ADMIN", "NET_RAW"},
		}),
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			"clstr-" + c.run: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.ip.String()}},
		}},
		nil, name)
	if err != nil {
		return fmt.Errorf("%s: create sandbox: %w", n.name, err)
	}
	n.sandboxID = sb.ID
	return nil
}

// startSandbox starts the sandbox and, in a sandboxed run, cuts its route
// out of the cluster.
func (c *dockerCluster) startSandbox(ctx context.Context, n *node) error {
	c.firstStart.CompareAndSwap(0, time.Now().UnixNano())
	if err := c.rt.cli.ContainerStart(ctx, n.sandboxID, container.StartOptions{}); err != nil {
		return fmt.Errorf("%s: start sandbox: %w", n.name, portHint(err))
	}
	return c.lockdown(ctx, n)
}

// learnHostPort asks Docker which port of 127.0.0.1 it published for the
// node's started sandbox.
func (c *dockerCluster) learnHostPort(ctx context.Context, n *node) error {
	info, err := c.rt.cli.ContainerInspect(ctx, n.sandboxID)
	if err != nil {
		return fmt.Errorf("%s: inspect sandbox: %w", n.name, err)
	}
	if b := info.NetworkSettings.Ports[sandboxPort]; len(b) > 0 {
		n.hostPort = b[0].HostPort
	}
	if n.hostPort == "" {
		return fmt.Errorf("%s: Docker published no host port for %s", n.name, sandboxPort)
	}
	return nil
}

// createContainer creates the node's own container from the target image,
// joined to its sandbox's network namespace.
func (c *dockerCluster) createContainer(ctx context.Context, n *node, image, name string) error {
	env := []string{
		"ADDR=" + c.addr(n),
		"PEERS=" + strings.Join(c.peers(n), ","),
		"CLUSTER=" + strings.Join(c.initial(), ","),
		"DATA_DIR=" + dataDir,
	}
	fixed := len(env)
	for k, v := range c.rt.opts.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env[fixed:])
	init := true
	cfg := &container.Config{Image: image, Env: env, Labels: c.rt.labels.forRun(c.run, "node", n.name)}
	hc := c.rt.confine(roleNode, &container.HostConfig{
		NetworkMode: container.NetworkMode("container:" + n.sandboxID),
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: n.volume, Target: dataDir}},
		// An init process forwards SIGTERM to the program and reaps
		// zombies, so a node stops as it would on a host.
		Init: &init,
	})
	if c.durableRun {
		if err := c.makeDurable(ctx, image, cfg, hc); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	ct, err := c.rt.cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return fmt.Errorf("%s: create container from %s: %w", n.name, image, err)
	}
	n.containerID = ct.ID
	if c.durableRun {
		return c.installSupervisor(ctx, ct.ID)
	}
	return nil
}

// portHint explains a port clash, which a user can act on.
func portHint(err error) error {
	if strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "port is already allocated") {
		return fmt.Errorf("%w\na port on 127.0.0.1 is taken; stop whatever holds it and try again", err)
	}
	return err
}
