package docker

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// netdName is the name clstr-netd runs under in its sandbox image. Any
// Linux program that imports this package becomes clstr-netd when started
// under that name (see netd_linux.go), so clstr (or a Go test binary)
// serves as its own sidecar; a dynamically linked one brings its
// interpreter and libraries along.
const netdName = "clstr-netd"

// libDirs are searched for the shared libraries of a dynamically linked
// clstr-netd, in this order.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// runtimeFiles returns what a dynamically linked executable needs in an
// otherwise empty image: its ELF interpreter and every shared library it
// loads, transitively, keyed by the absolute path they must have there.
// A static executable needs nothing.
func runtimeFiles(path string) (map[string]string, error) {
	files := map[string]string{}
	var visit func(string) error
	visit = func(p string) error {
		f, err := elf.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: read interpreter: %w", p, err)
			}
			interp := strings.TrimRight(string(b), "\x00")
			files[interp] = interp
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, lib := range libs {
			if _, done := files["/lib/"+lib]; done {
				continue
			}
			found := ""
			for _, dir := range libDirs {
				if _, err := os.Stat(filepath.Join(dir, lib)); err == nil {
					found = filepath.Join(dir, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, which is in none of %v; build clstr with CGO_ENABLED=0", p, lib, libDirs)
			}
			// The loader of a FROM scratch image searches /lib.
			files["/lib/"+lib] = found
			if err := visit(found); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(path); err != nil {
		return nil, err
	}
	return files, nil
}

// netdImage returns the sandbox image, building it on first use.
func (r *Runtime) netdImage(ctx context.Context) (string, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	}
	bin, err := netdFinder.binary(ctx, v.Arch)
	if err != nil {
		return "", err
	}
	libs, err := runtimeFiles(bin)
	if err != nil {
		return "", fmt.Errorf("clstr-netd: %w", err)
	}
	tag, err := r.binaryImage(ctx, bin, "netd", netdName, []string{"serve"}, libs)
	if err != nil {
		return "", err
	}
	r.pruneOnce.Do(func() { r.pruneNetdImages(ctx, tag) })
	return tag, nil
}

// staleNetdImage is the age after which a sandbox image of another clstr
// build is removed. Younger ones may belong to a run that is about to
// create its sandboxes from them.
const staleNetdImage = 24 * time.Hour

// pruneNetdImages removes stale sandbox images of earlier clstr builds, so
// that rebuilding clstr does not pile images up. Images in use stay.
func (r *Runtime) pruneNetdImages(ctx context.Context, keep string) {
	imgs, err := r.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelRole+"=netd"))})
	if err != nil {
		return
	}
	for _, img := range imgs {
		if slices.Contains(img.RepoTags, keep) || time.Since(time.Unix(img.Created, 0)) < staleNetdImage {
			continue
		}
		// Refused while a live run's sandbox uses it; that is fine.
		_, _ = r.cli.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true})
	}
}

// netctl sends one request to a node's clstr-netd by running
// "clstr-netd ctl" inside its sandbox.
func (c *dockerCluster) netctl(ctx context.Context, n *node, req netd.Request) (netd.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return netd.Response{}, err
	}
	cli := c.rt.cli
	ex, err := cli.ContainerExecCreate(ctx, n.sandboxID, container.ExecOptions{
		Cmd:          []string{"/app/" + netdName, "ctl", string(body)},
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return netd.Response{}, fmt.Errorf("%s: reach clstr-netd: %w", n.name, err)
	}
	hj, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return netd.Response{}, fmt.Errorf("%s: reach clstr-netd: %w", n.name, err)
	}
	var stdout, stderr bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, &stderr, hj.Reader)
	hj.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return netd.Response{}, fmt.Errorf("%s: clstr-netd: %w", n.name, err)
	}
	var resp netd.Response
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return netd.Response{}, fmt.Errorf("%s: clstr-netd: %s", n.name, msg)
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("%s: %s", n.name, resp.Error)
	}
	c.noteShaper(n, req, resp)
	return resp, nil
}
