// Package docker runs attest clusters as Docker containers through the
// Docker Engine API (github.com/docker/docker/client); it never shells out
// to the docker command.
//
// Every node is two containers: a sandbox of clstr's own that owns the
// node's network namespace, address and published port and runs clstr-netd
// (see attest/docker/internal/netd), and the user's container, which joins that
// namespace. Faults are programmed by clstr-netd from outside the user's
// container, so the user's image needs nothing for them — a FROM scratch
// image with one static binary supports every fault — and the user's
// process never holds NET_ADMIN. Because the sandbox outlives the user's
// process, partitions and impairments hold across kills and restarts.
//
// Everything a run creates carries the labels of labels.go; a run killed
// before it could clean up is cleaned by the next one.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/internal/artifact"

	"github.com/docker/docker/client"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Options say what program to run and how.
type Options struct {
	// Exactly one of Dir, Image and Binary names the program:
	// Dir is a directory with a Dockerfile; Image an existing image tag;
	// Binary a static Linux executable, wrapped FROM scratch by the runner.
	Dir    string
	Image  string
	Binary string

	// Env is added to every node's environment.
	Env map[string]string
	// LogDir, if set, receives one "<node>.log" file per node.
	LogDir string
	// Disk, if not nil, bounds what the node logs hold together with the
	// run's other files: a node's output past it is not written (the log
	// says so once); nil for no bound.
	Disk *artifact.Quota
	// Subnet is the cluster network's first choice; "" means 10.0.42.0/24.
	// If it is taken, the next free 10.0.x.0/24 is used.
	Subnet string
	// BuildOutput, if set, receives the image build's output as it runs.
	BuildOutput io.Writer
	// Sandbox, if set, confines the nodes of a run whose script is not
	// trusted; see SandboxLimits. Nil trusts it.
	Sandbox *SandboxLimits
	// ReuseSandboxes keeps a closed cluster's network and sandboxes for
	// the next cluster of the same size, which then starts faster (see
	// reuse.go); Close removes them. For runners that create cluster after
	// cluster: clstr run --watch, several stages in a row.
	ReuseSandboxes bool
}

// Runtime creates clusters on a Docker daemon. It implements
// cluster.Runtime.
type Runtime struct {
	opts   Options
	cli    *client.Client
	labels ownerLabels
	images imageCache
	// pruneOnce removes stale sandbox images at the first cluster only.
	pruneOnce sync.Once
	pool      sandboxPool
	durable   durableHost
	// superseded removes images that newer builds of the same target
	// replaced; Close waits for it.
	superseded sync.WaitGroup
}

var _ cluster.Runtime = (*Runtime)(nil)

// New connects to the Docker daemon the docker CLI would use (see
// Endpoint) and checks that it answers.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	n := 0
	for _, s := range []string{opts.Dir, opts.Image, opts.Binary} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("say what to run: exactly one of a Dockerfile directory, an image tag or a static binary")
	}
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &Runtime{opts: opts, cli: cli, labels: newOwnerLabels()}, nil
}

// Connect opens a client to the Docker daemon the docker CLI would use
// (see Endpoint) and checks that it answers,
// negotiating the API version (Docker 20.10, API 1.41, and newer).
func Connect(ctx context.Context) (*client.Client, error) {
	ep, err := ResolveEndpoint()
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	cli, err := client.NewClientWithOpts(append(ep.clientOpts(), client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, fmt.Errorf("docker: %s: %w", ep, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		cli.Close()
		return nil, &DaemonError{Host: cli.DaemonHost(), Source: ep.Source, Err: err}
	}
	// Settle the version now: left to the first request, the client
	// negotiates it lazily, and concurrent first requests (a cluster's
	// start overlaps several) race on it.
	cli.NegotiateAPIVersionPing(ping)
	return cli, nil
}

// DaemonError says the Docker daemon could not be reached.
type DaemonError struct {
	Host string
	// Source says where Host came from (see Endpoint).
	Source string
	Err    error
}

func (e *DaemonError) Error() string {
	msg := e.Err.Error()
	hint := "start it (for example `sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running daemon"
	if strings.HasPrefix(e.Source, "docker context") {
		hint = "start it (Docker Desktop, `colima start`, OrbStack, …), pick another context with `docker context use NAME`, or point DOCKER_HOST at a running daemon"
	}
	if strings.Contains(msg, "permission denied") {
		hint = "your user may not use it: add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root"
	}
	host := e.Host
	if e.Source != "" {
		host += " (from " + e.Source + ")"
	}
	return fmt.Sprintf("cannot reach the Docker daemon at %s: %s\n%s", host, firstLine(msg), hint)
}

// Unwrap returns the underlying error.
func (e *DaemonError) Unwrap() error { return e.Err }

// Close releases the connection to the daemon. Clusters must be closed first.
func (r *Runtime) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	r.superseded.Wait()
	err := r.pool.drain(ctx, r.cli)
	return errors.Join(err, r.cli.Close())
}

// Client returns the runtime's Docker client.
func (r *Runtime) Client() *client.Client { return r.cli }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
