package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"
)

// DataSize implements cluster.Cluster. A short-lived helper container,
// made from the sandbox image (the runner's own static binary, run as
// "clstr-netd du"), mounts the node's data volume read-only, with no
// network, and prints the sum of the sizes of its regular files. Nothing
// in the node's image is needed, and the node may be running or not.
func (c *dockerCluster) DataSize(ctx context.Context, name string) (int64, error) {
	n, err := c.node(name)
	if err != nil {
		return 0, err
	}
	if n.volume == "" || c.netd == "" {
		return 0, fmt.Errorf("%s: no data volume to measure", name)
	}
	const mnt = "/data"
	cli := c.rt.cli
	ct, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image:      c.netd,
			Entrypoint: []string{"/app/" + netdName, "du", mnt + c.dataSubdir()},
			Labels:     c.rt.labels.forRun(c.run, "datasize", n.name),
		},
		&container.HostConfig{
			NetworkMode: "none",
			CapDrop:     []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges"},
			Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: n.volume, Target: mnt, ReadOnly: true}},
		},
		nil, nil, "")
	if err != nil {
		return 0, fmt.Errorf("%s: measure DATA_DIR: create helper: %w", name, err)
	}
	defer func() {
		_ = cli.ContainerRemove(context.WithoutCancel(ctx), ct.ID, container.RemoveOptions{Force: true})
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, waitErr := cli.ContainerWait(wctx, ct.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, ct.ID, container.StartOptions{}); err != nil {
		return 0, fmt.Errorf("%s: measure DATA_DIR: start helper: %w", name, err)
	}
	var status int64
	select {
	case r := <-exited:
		status = r.StatusCode
	case err := <-waitErr:
		return 0, fmt.Errorf("%s: measure DATA_DIR: %w", name, err)
	}
	logs, err := cli.ContainerLogs(ctx, ct.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return 0, fmt.Errorf("%s: measure DATA_DIR: read helper output: %w", name, err)
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: measure DATA_DIR: read helper output: %w", name, err)
	}
	size, perr := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
	if status != 0 || perr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = fmt.Sprintf("exit status %d, output %q", status, stdout.String())
		}
		return 0, fmt.Errorf("%s: measure DATA_DIR: %s", name, msg)
	}
	return size, nil
}
