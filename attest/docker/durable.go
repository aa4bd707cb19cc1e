package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/durafs/supervisor"
)

// In a suite that asks for durability, a node's container runs clstr's
// supervisor (attest/docker/internal/durafs/supervisor) as its entrypoint, copied into
// the container as one static file: it mounts a FUSE file system at
// DATA_DIR over the node's volume, then runs the image's own entrypoint
// with no capability at all. Only that container gets /dev/fuse and
// CAP_SYS_ADMIN, and only in such a suite; the mount lives in the
// container's own mount namespace, so nothing depends on mount
// propagation. The sandbox image would not do: the mount must be in the
// namespace of the node's process.

// durableHost remembers whether the Docker host can serve a durable
// DATA_DIR, once asked.
type durableHost struct {
	mu      sync.Mutex // guards checked, err and apparmor
	checked bool
	// err is why it cannot, once checked.
	err error
	// apparmor is set when the daemon confines containers with AppArmor,
	// whose default profile refuses every mount.
	apparmor bool
}

// supervisorBins are the static clstr executables found for the
// supervisor, by architecture.
var supervisorBins struct {
	mu     sync.Mutex // guards byArch
	byArch map[string]string
}

// supervisorBinary returns a static Linux clstr for the daemon's
// architecture: it is copied into images that may hold no loader and no
// library, so a dynamically linked one (a cgo build, a test binary) is
// replaced by one built from source, as clstr-netd's locator builds it.
func (r *Runtime) supervisorBinary(ctx context.Context) (string, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	}
	supervisorBins.mu.Lock()
	defer supervisorBins.mu.Unlock()
	if p, ok := supervisorBins.byArch[v.Arch]; ok {
		return p, nil
	}
	bin, err := netdFinder.binary(ctx, v.Arch)
	if err != nil {
		return "", err
	}
	if libs, err := runtimeFiles(bin); err != nil || len(libs) > 0 {
		if bin, err = netdFinder.build(ctx, v.Arch); err != nil {
			return "", fmt.Errorf("a suite with durability copies a static Linux clstr into every node, and this one is dynamically linked: set CLSTR_NETD_BINARY to one built with `CGO_ENABLED=0 GOOS=linux go build ./cmd/clstr` (building one failed: %w)", err)
		}
	}
	if supervisorBins.byArch == nil {
		supervisorBins.byArch = map[string]string{}
	}
	supervisorBins.byArch[v.Arch] = bin
	return bin, nil
}

// checkDurable makes sure, once per runtime, that the Docker host can
// serve a durable DATA_DIR: a throwaway container of the sandbox image,
// given what a durable node gets, runs the supervisor's check, which
// mounts and unmounts an empty FUSE file system.
func (c *dockerCluster) checkDurable(ctx context.Context) error {
	h := &c.rt.durable
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checked {
		return h.err
	}
	h.err = c.probeDurable(ctx)
	h.checked = ctx.Err() == nil
	return h.err
}

// checkDurableRun checks the host before the nodes of a durable run are
// made, so that a host that cannot serve them gets one message, not one
// per node.
func (c *dockerCluster) checkDurableRun(ctx context.Context) error {
	if !c.durableRun {
		return nil
	}
	return c.checkDurable(ctx)
}

// probeDurable runs the check; c.rt.durable.mu is held.
func (c *dockerCluster) probeDurable(ctx context.Context) error {
	h := &c.rt.durable
	info, err := c.rt.cli.Info(ctx)
	if err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	h.apparmor = slices.ContainsFunc(info.SecurityOptions, func(s string) bool { return strings.Contains(s, "name=apparmor") })
	hc := &container.HostConfig{NetworkMode: "none", CapDrop: []string{"ALL"}}
	h.grant(hc)
	status, out, err := c.runSupervisor(ctx, "durafs-check", "", []string{"check"}, hc)
	if err != nil && strings.Contains(err.Error(), "/dev/fuse") {
		return &cluster.ErrNoDurability{Reason: noFuseHint(err).Error()}
	}
	if err != nil {
		return fmt.Errorf("check that this host can serve a durable DATA_DIR: %w", err)
	}
	if status != 0 {
		return &cluster.ErrNoDurability{Reason: out}
	}
	return nil
}

// grant gives the host configuration of a container that runs the
// supervisor what it needs to mount FUSE, and no more: /dev/fuse,
// CAP_SYS_ADMIN, and the few capabilities a root file server uses on
// behalf of its callers, which a sandboxed run's containers lack.
func (h *durableHost) grant(hc *container.HostConfig) {
	hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"})
	hc.CapAdd = append(hc.CapAdd, "SYS_ADMIN")
	if slices.Contains(hc.CapDrop, "ALL") {
		hc.CapAdd = append(hc.CapAdd, "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL")
	}
	if h.apparmor {
		hc.SecurityOpt = append(hc.SecurityOpt, "apparmor=unconfined")
	}
}

// noFuseHint explains a container that could not be given /dev/fuse.
func noFuseHint(err error) error {
	return fmt.Errorf("the Docker host has no /dev/fuse (load the fuse module: `sudo modprobe fuse`): %w", err)
}

// makeDurable turns the configuration of n's container into a durable
// one: the supervisor is the entrypoint, runs as root with what it needs
// to mount, and hands the image's entrypoint and user to the program.
func (c *dockerCluster) makeDurable(ctx context.Context, image string, cfg *container.Config, hc *container.HostConfig) error {
	if err := c.checkDurable(ctx); err != nil {
		return err
	}
	img, err := c.rt.cli.ImageInspect(ctx, image)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	var argv []string
	user := ""
	if img.Config != nil {
		argv = append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...)
		user = img.Config.User
	}
	if len(argv) == 0 {
		return &cluster.TargetError{Err: fmt.Errorf("image %s names no program to run: give it an ENTRYPOINT or a CMD", image)}
	}
	cfg.Entrypoint = append([]string{supervisor.Path, "supervise", "-data", dataDir, "-store", supervisor.Store, "-user", user, "--"}, argv...)
	cfg.Cmd = nil
	cfg.User = "0:0"
	for i, m := range hc.Mounts {
		if m.Target == dataDir {
			hc.Mounts[i].Target = supervisor.Store
		}
	}
	c.rt.durable.grant(hc)
	return nil
}

// installSupervisor copies the supervisor into a created container.
func (c *dockerCluster) installSupervisor(ctx context.Context, id string) error {
	bin, err := c.rt.supervisorBinary(ctx)
	if err != nil {
		return err
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(supervisor.Path, "/"), Mode: 0o755, Size: st.Size(), ModTime: time.Unix(0, 0)})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		pw.CloseWithError(errors.Join(err, tw.Close()))
	}()
	if err := c.rt.cli.CopyToContainer(ctx, id, "/", pr, container.CopyToContainerOptions{}); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("copy the durability supervisor into the container: %w", err)
	}
	return nil
}

// runSupervisor runs the supervisor with args in a throwaway container of
// the sandbox image, with the node's volume (if any) at the store, and
// returns its exit status and output.
func (c *dockerCluster) runSupervisor(ctx context.Context, role, volume string, args []string, hc *container.HostConfig) (int64, string, error) {
	if volume != "" {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: volume, Target: supervisor.Store})
	}
	cli := c.rt.cli
	run := c.run
	if run == "" {
		run = role + "-" + newRunID()
	}
	ct, err := cli.ContainerCreate(ctx,
		&container.Config{Image: c.netd, Entrypoint: append([]string{supervisor.Path}, args...), User: "0:0", Labels: c.rt.labels.forRun(run, role, "")},
		hc, nil, nil, "")
	if err != nil {
		return 0, "", err
	}
	defer func() {
		_ = cli.ContainerRemove(context.WithoutCancel(ctx), ct.ID, container.RemoveOptions{Force: true})
	}()
	if err := c.installSupervisor(ctx, ct.ID); err != nil {
		return 0, "", err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, waitErr := cli.ContainerWait(wctx, ct.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, ct.ID, container.StartOptions{}); err != nil {
		return 0, "", err
	}
	var status int64
	select {
	case r := <-exited:
		status = r.StatusCode
	case err := <-waitErr:
		return 0, "", err
	}
	logs, err := cli.ContainerLogs(ctx, ct.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return 0, "", err
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil && !errors.Is(err, io.EOF) {
		return 0, "", err
	}
	return status, strings.TrimSpace(out.String()), nil
}

// PowerLoss implements cluster.PowerLosser: the supervisor of a running
// node gets SIGPWR (through the init process, which forwards it), kills
// the program and restores the durable state; a node that is down has its
// volume restored by a throwaway supervisor.
func (c *dockerCluster) PowerLoss(ctx context.Context, name string) error {
	if !c.durableRun {
		return cluster.ErrNotDurable
	}
	n, err := c.lock(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	if !n.running {
		if err := c.replay(ctx, n); err != nil {
			return err
		}
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPowerLoss})
		return nil
	}
	cli := c.rt.cli
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, waitErr := cli.ContainerWait(wctx, n.containerID, container.WaitConditionNotRunning)
	if err := c.thaw(ctx, n, "thaw to lose power"); err != nil {
		return err
	}
	if err := cli.ContainerKill(ctx, n.containerID, "SIGPWR"); err != nil {
		return fmt.Errorf("%s: tell the supervisor to lose power: %w", n.name, err)
	}
	var status int64 = -1
	select {
	case r := <-exited:
		status = r.StatusCode
	case err := <-waitErr:
		return fmt.Errorf("%s: wait for the power loss: %w", n.name, err)
	case <-time.After(cleanupTimeout):
		// The supervisor is stuck: kill everything and restore the
		// durable state from the journal alone.
		if err := cli.ContainerKill(ctx, n.containerID, "SIGKILL"); err != nil && !c.exited(ctx, n.containerID) {
			return fmt.Errorf("%s: send SIGKILL: %w", n.name, err)
		}
		<-exited
	}
	n.running = false
	if status != supervisor.ExitPowerLost {
		if err := c.replay(ctx, n); err != nil {
			return fmt.Errorf("%s: the power loss did not finish (exit status %d; last log lines: %s), and restoring it failed: %w",
				n.name, status, strings.Join(n.log.lastLines(5), " | "), err)
		}
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPowerLoss, Detail: fmt.Sprintf("restored from the journal, the supervisor exited with status %d", status)})
		return nil
	}
	c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPowerLoss})
	return nil
}

// replay restores a stopped node's volume to its durable state.
func (c *dockerCluster) replay(ctx context.Context, n *node) error {
	hc := &container.HostConfig{NetworkMode: "none", CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN", "DAC_OVERRIDE", "FOWNER"}}
	status, out, err := c.runSupervisor(ctx, "durafs-replay", n.volume, []string{"replay", "-store", supervisor.Store, "-force"}, hc)
	if err != nil {
		return fmt.Errorf("%s: lose power: %w", n.name, err)
	}
	if status != 0 {
		return fmt.Errorf("%s: lose power: %s", n.name, out)
	}
	return nil
}

// durabilitySupport says, for clstr doctor, whether the Docker host can
// serve a durable DATA_DIR.
func durabilitySupport(ctx context.Context, c *dockerCluster) string {
	if err := c.checkDurable(ctx); err != nil {
		var nd *cluster.ErrNoDurability
		if errors.As(err, &nd) {
			return "unavailable (" + nd.Reason + "): suites with durability = True cannot run here"
		}
		return "unavailable (" + err.Error() + ")"
	}
	return "available (FUSE in the node's container)"
}

// dataSubdir is where DATA_DIR's files are in the node's volume: the
// volume itself, or, in a durable run, the backing directory beside the
// journal.
func (c *dockerCluster) dataSubdir() string {
	if c.durableRun {
		return "/" + supervisor.BackingDir
	}
	return ""
}
