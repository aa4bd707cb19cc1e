package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/clstr-dev/clstr/internal/netd"
)

// netdName is the name clstr-netd runs under in its sandbox image. Any
// program that imports this package becomes clstr-netd when started under
// that name, so a static clstr binary can serve as its own sidecar.
const netdName = "clstr-netd"

// netdPackage is built when no static binary that contains clstr-netd is
// at hand (a test binary built with -race, or clstr built with cgo).
const netdPackage = "github.com/clstr-dev/clstr/internal/netd/cmd/clstr-netd"

func init() {
	if filepath.Base(os.Args[0]) == netdName {
		os.Exit(netd.Main(os.Args[1:], newImpairer()))
	}
}

var netdBinary = sync.OnceValues(findNetdBinary)

// findNetdBinary returns a static executable that runs clstr-netd: the one
// CLSTR_NETD_BINARY names, this very program if it is static, or one built
// from source with the Go toolchain into the user's cache.
func findNetdBinary() (string, error) {
	if p := os.Getenv("CLSTR_NETD_BINARY"); p != "" {
		if !isStatic(p) {
			return "", fmt.Errorf("CLSTR_NETD_BINARY=%s is not a static Linux executable", p)
		}
		return p, nil
	}
	self, err := os.Executable()
	if err == nil && isStatic(self) {
		return self, nil
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("fault injection needs a statically linked clstr: build clstr with CGO_ENABLED=0, or set CLSTR_NETD_BINARY to a static clstr-netd")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "clstr")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	// One output per building program, so concurrent builds do not race.
	sum := sha256.Sum256([]byte(self))
	out := filepath.Join(dir, "clstr-netd-"+hex.EncodeToString(sum[:])[:12])
	cmd := exec.Command(gobin, "build", "-trimpath", "-buildvcs=false", "-o", out+".tmp", netdPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s\nor build clstr with CGO_ENABLED=0, or set CLSTR_NETD_BINARY", netdPackage, err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return "", err
	}
	return out, nil
}

// isStatic reports whether path is a Linux ELF executable without an
// interpreter, which can run in a FROM scratch image.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// netdImage returns the sandbox image, building it on first use.
func (r *Runtime) netdImage(ctx context.Context) (string, error) {
	bin, err := netdBinary()
	if err != nil {
		return "", err
	}
	return r.binaryImage(ctx, bin, "netd", netdName, []string{"serve"})
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
	return resp, nil
}
