package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Labels on everything a run creates.
const (
	// LabelRun holds the run's id; every container, network and volume of
	// a run carries it, which is how leftovers are found.
	LabelRun = "io.clstr.run"
	// LabelOwner names the process that owns the run: "host/pid/start".
	LabelOwner = "io.clstr.owner"
	// LabelNode holds the node name (n1 …) on node containers and volumes.
	LabelNode = "io.clstr.node"
	// LabelRole says what a resource is: "node", "sandbox", "data",
	// "network" or, on images, "netd" and "target".
	LabelRole = "io.clstr.role"
)

// ownerLabels identify the running process, so that a later run can tell
// a live run's resources (leave them) from a dead one's (remove them).
type ownerLabels struct {
	owner string
}

// Owner returns the owner label of everything this process creates:
// "host/pid/start".
func Owner() string { return newOwnerLabels().owner }

// OwnerOf returns the owner label of the process with the given pid on this
// host, as that process would set it.
func OwnerOf(pid int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, pid, procStart(pid))
}

// OwnerEnv names the environment variable through which a process that
// starts clstr as its child (a sandboxed run's confined child) makes the
// child label what it creates as the parent's: the parent then owns it,
// removes it when the child dies, and other runs leave it alone while the
// parent lives.
const OwnerEnv = "CLSTR_OWNER"

func newOwnerLabels() ownerLabels {
	if o := os.Getenv(OwnerEnv); o != "" {
		return ownerLabels{owner: o}
	}
	host, _ := os.Hostname()
	pid := os.Getpid()
	return ownerLabels{owner: fmt.Sprintf("%s/%d/%s", host, pid, procStart(pid))}
}

func (o ownerLabels) forRun(run, role, node string) map[string]string {
	m := map[string]string{LabelRun: run, LabelOwner: o.owner, LabelRole: role}
	if node != "" {
		m[LabelNode] = node
	}
	return m
}

// procStart returns the start time of a process in clock ticks since boot
// (field 22 of /proc/PID/stat), which tells a process from a later one that
// reused its pid. It is "" where /proc is not readable.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields after it don't.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// ownerAlive reports whether the process named by an owner label may still
// be running. Owners on other hosts are presumed alive.
func ownerAlive(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	if parts[0] != host {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return false
	}
	if !processAlive(pid) {
		return false
	}
	return parts[2] == "" || procStart(pid) == "" || procStart(pid) == parts[2]
}

// CleanOptions choose what Clean removes.
type CleanOptions struct {
	// All removes every run's resources, including live runs'.
	All bool
	// Run, if set, removes only that run's resources.
	Run string
	// Owner, if set, removes only the resources of the process it names
	// (an owner label, see OwnerOf), alive or not: a parent removing what
	// a child it started left behind.
	Owner string
	// Images also removes the images clstr built (sandbox images, and
	// targets wrapped from a binary or built from a directory) that no
	// container uses, once the runs' resources are gone. A later run
	// builds what it needs again.
	Images bool
}

// CleanResult counts what Clean removed.
type CleanResult struct {
	Containers, Networks, Volumes, Images int
	// ImagesInUse counts the images clstr built that stayed because a
	// container uses them (a run still going on, without All).
	ImagesInUse int
}

// Clean removes the labelled containers, networks and volumes of runs whose
// owner process is gone (or, with All, of every run). Each run calls it
// before it starts, so a runner killed with SIGKILL leaves nothing behind
// for long.
func Clean(ctx context.Context, cli *client.Client, opts CleanOptions) (CleanResult, error) {
	var res CleanResult
	f := filters.NewArgs(filters.Arg("label", LabelRun))
	if opts.Run != "" {
		f = filters.NewArgs(filters.Arg("label", LabelRun+"="+opts.Run))
	}
	if opts.Owner != "" {
		f.Add("label", LabelOwner+"="+opts.Owner)
	}
	doomed := func(labels map[string]string) bool {
		return opts.All || opts.Run != "" || opts.Owner != "" || !ownerAlive(labels[LabelOwner])
	}
	var errs []error

	containers, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return res, fmt.Errorf("list containers: %w", err)
	}
	// User containers first: they share the sandboxes' namespaces. Each
	// pass removes its containers in parallel.
	for _, pass := range []func(string) bool{
		func(role string) bool { return role != "sandbox" },
		func(role string) bool { return role == "sandbox" },
	} {
		var (
			wg sync.WaitGroup
			mu sync.Mutex // guards errs and res
		)
		for _, c := range containers {
			if !doomed(c.Labels) || !pass(c.Labels[LabelRole]) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
				mu.Lock()
				defer mu.Unlock()
				if err != nil && !client.IsErrNotFound(err) {
					errs = append(errs, fmt.Errorf("remove container %s: %w", strings.TrimPrefix(firstName(c.Names), "/"), err))
					return
				}
				res.Containers++
			}()
		}
		wg.Wait()
	}

	networks, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range networks {
		if !doomed(n.Labels) {
			continue
		}
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		res.Networks++
	}

	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if !doomed(v.Labels) {
			continue
		}
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		res.Volumes++
	}
	if opts.Images {
		if err := cleanImages(ctx, cli, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// cleanImages removes the images clstr built that no container uses.
// Docker refuses to remove an image a container uses, which is what
// keeps a live run's images; an image with several tags loses each.
func cleanImages(ctx context.Context, cli *client.Client, res *CleanResult) error {
	imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelRole))})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var errs []error
	for _, img := range imgs {
		// Older daemons list an untagged image as "<none>:<none>".
		refs := slices.DeleteFunc(slices.Clone(img.RepoTags), func(tag string) bool { return tag == "<none>:<none>" })
		if len(refs) == 0 {
			refs = []string{img.ID}
		}
		inUse, failed := false, false
		for _, ref := range refs {
			_, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
			switch {
			case err == nil, cerrdefs.IsNotFound(err):
			case cerrdefs.IsConflict(err):
				inUse = true
			default:
				failed = true
				errs = append(errs, fmt.Errorf("remove image %s: %w", ref, err))
			}
		}
		switch {
		case inUse:
			res.ImagesInUse++
		case !failed:
			res.Images++
		}
	}
	return errors.Join(errs...)
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
