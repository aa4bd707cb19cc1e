package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// Diagnosis is what Diagnose finds out about this host.
type Diagnosis struct {
	// Endpoint is the Docker endpoint and where it came from.
	Endpoint string
	// Daemon is the Docker daemon's host, version and API version.
	Daemon string
	// Impairments says which ways of impairing traffic the kernel offers
	// inside a node's network namespace, and why not where it does not.
	Impairments string
	// Durability says whether a node can serve a durable DATA_DIR for
	// suites that lose power, and why not where it cannot.
	Durability string
}

// Diagnose checks the Docker daemon and asks a throwaway clstr-netd sandbox
// what the kernel supports for faults.
func Diagnose(ctx context.Context) (Diagnosis, error) {
	var d Diagnosis
	ep, err := ResolveEndpoint()
	if err != nil {
		return d, err
	}
	d.Endpoint = ep.String()
	cli, err := Connect(ctx)
	if err != nil {
		return d, err
	}
	defer cli.Close()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return d, fmt.Errorf("docker version: %w", err)
	}
	d.Daemon = fmt.Sprintf("Docker %s (API %s, %s/%s)", v.Version, v.APIVersion, v.Os, v.Arch)

	r := &Runtime{cli: cli, labels: newOwnerLabels()}
	img, err := r.netdImage(ctx)
	if err != nil {
		return d, fmt.Errorf("clstr-netd image: %w", err)
	}
	run := "doctor-" + newRunID()
	ct, err := cli.ContainerCreate(ctx,
		&container.Config{Image: img, Labels: r.labels.forRun(run, "sandbox", "")},
		&container.HostConfig{NetworkMode: "none", CapDrop: []string{"ALL"}, CapAdd: []string{"NET_ADMIN", "NET_RAW"}},
		nil, nil, "clstr-"+run)
	if err != nil {
		return d, fmt.Errorf("create probe sandbox: %w", err)
	}
	defer Clean(context.WithoutCancel(ctx), cli, CleanOptions{Run: run})
	if err := cli.ContainerStart(ctx, ct.ID, container.StartOptions{}); err != nil {
		return d, fmt.Errorf("start probe sandbox: %w", err)
	}
	c := &dockerCluster{rt: r}
	resp, err := c.netctl(ctx, &node{name: "probe", sandboxID: ct.ID}, netd.Request{Op: "probe"})
	if err != nil {
		return d, err
	}
	d.Impairments = resp.Support
	d.Durability = durabilitySupport(ctx, &dockerCluster{rt: r, netd: img})
	return d, nil
}
