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
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode"
)

// modulePath is clstr's Go module.
const modulePath = "github.com/clstr-dev/clstr"

// netdFinder finds the clstr-netd of this process's sandboxes.
var netdFinder = newNetdFinder()

// A netdLocator finds a Linux executable that runs clstr-netd for the
// Docker daemon's architecture. The sandbox of every node runs one; the
// runner itself may run on any system.
type netdLocator struct {
	// env is CLSTR_NETD_BINARY, which wins when set.
	env string
	// exe is this program; goos and goarch are what it was built for.
	exe, goos, goarch string
	// source returns the directory of clstr's module source, or "".
	source func(ctx context.Context) (string, error)
	// cache is where executables built from source are kept.
	cache string

	mu    sync.Mutex        // guards found
	found map[string]string // by architecture
}

// newNetdFinder returns the locator of this process.
func newNetdFinder() *netdLocator {
	exe, err := os.Executable()
	if err == nil {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
	}
	cache, err := os.UserCacheDir()
	if err == nil {
		cache = filepath.Join(cache, "clstr", "netd")
	}
	return &netdLocator{
		env: os.Getenv("CLSTR_NETD_BINARY"), exe: exe, goos: runtime.GOOS, goarch: runtime.GOARCH,
		source: moduleSource, cache: cache,
	}
}

// binary returns the executable for a daemon of architecture arch (in Go's
// terms: "amd64", "arm64"):
//
//   - the one CLSTR_NETD_BINARY names;
//   - on Linux, for the daemon's architecture, this very program, which
//     becomes clstr-netd when started under that name;
//   - clstr-netd-linux-ARCH beside this program, as a release archive
//     holds it;
//   - one built from clstr's source with the local Go toolchain, and kept
//     for the next run.
func (l *netdLocator) binary(ctx context.Context, arch string) (string, error) {
	if arch == "" {
		arch = l.goarch
	}
	if l.env != "" {
		return l.env, checkLinuxExec(l.env, arch, "CLSTR_NETD_BINARY names")
	}
	if l.goos == "linux" && l.goarch == arch {
		if l.exe == "" {
			return "", errors.New("cannot find this program to run it as clstr-netd; set CLSTR_NETD_BINARY to a static clstr binary")
		}
		return l.exe, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.found[arch]; ok {
		return p, nil
	}
	p, err := l.locate(ctx, arch)
	if err != nil {
		return "", err
	}
	if l.found == nil {
		l.found = map[string]string{}
	}
	l.found[arch] = p
	return p, nil
}

// shippedName is the name of the Linux clstr a release archive carries
// for architecture arch.
func shippedName(arch string) string { return "clstr-netd-linux-" + arch }

func (l *netdLocator) locate(ctx context.Context, arch string) (string, error) {
	name := shippedName(arch)
	if l.exe != "" {
		p := filepath.Join(filepath.Dir(l.exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, checkLinuxExec(p, arch, "found")
		}
	}
	built, buildErr := l.build(ctx, arch)
	if buildErr == nil {
		return built, nil
	}
	where := "beside clstr"
	if l.exe != "" {
		where = "in " + filepath.Dir(l.exe)
	}
	return "", fmt.Errorf("a node's sandbox runs a Linux clstr for the Docker daemon's %s, and none was found: put %s from the release archive %s, or set CLSTR_NETD_BINARY to one built with `CGO_ENABLED=0 GOOS=linux GOARCH=%s go build ./cmd/clstr` (building one from source failed: %v)",
		arch, name, where, arch, buildErr)
}

// build compiles clstr for linux/arch from its module source with the Go
// toolchain on PATH, into the cache, where the next run finds it. The
// cache is keyed by this program's content, so a rebuilt clstr gets a
// matching clstr-netd.
func (l *netdLocator) build(ctx context.Context, arch string) (string, error) {
	if l.cache == "" || l.exe == "" || l.source == nil {
		return "", errors.New("no cache directory or no source")
	}
	key, err := fileKey(l.exe)
	if err != nil {
		return "", err
	}
	out := filepath.Join(l.cache, key, shippedName(arch))
	if checkLinuxExec(out, arch, "cached") == nil {
		return out, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no Go toolchain on PATH")
	}
	src, err := l.source(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), shippedName(arch)+".*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	// -trimpath, as release archives are built: the binary a node's sandbox
	// runs carries no paths of this machine, and shares the build cache
	// with a release build.
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-o", tmp.Name(), "./cmd/clstr")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build in %s: %v: %s", src, err, firstLine(stderr.String()))
	}
	if err := checkLinuxExec(tmp.Name(), arch, "built"); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	pruneNetdCache(l.cache, key)
	return out, nil
}

// pruneNetdCache removes what earlier clstr builds built into the cache,
// keeping the current one's and, for a clstr of another build that may
// still be starting its sandboxes, any built in the last day.
func pruneNetdCache(cache, keep string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.Name() != keep && time.Since(info.ModTime()) > staleNetdImage {
			_ = os.RemoveAll(filepath.Join(cache, e.Name()))
		}
	}
}

// fileKey names a file by a digest of its content.
func fileKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// elfMachines are the ELF machines of the architectures Docker runs.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// checkLinuxExec says why path cannot serve as clstr-netd for arch.
func checkLinuxExec(path, arch, what string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s, which is not a Linux executable: want a Linux clstr for the Docker daemon's %s", what, path, arch)
	}
	defer f.Close()
	if m, ok := elfMachines[arch]; ok && f.Machine != m {
		return fmt.Errorf("%s %s, which is built for %s, but the Docker daemon runs %s: use a clstr built with GOOS=linux GOARCH=%s", what, path, strings.TrimPrefix(f.Machine.String(), "EM_"), arch, arch)
	}
	return nil
}

// moduleSource returns the directory of clstr's module source: the
// checkout this program was built from, if it is still there, or else the
// module of this program's version in Go's module cache, downloaded if
// need be.
func moduleSource(ctx context.Context) (string, error) {
	// The file name recorded for this function is absolute in a build
	// from a checkout (without -trimpath).
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		if isModuleRoot(dir) {
			return dir, nil
		}
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != modulePath || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "", errors.New("this clstr was built from a checkout that is no longer there, and has no module version to fetch")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no Go toolchain on PATH")
	}
	cmd := exec.CommandContext(ctx, goTool, "mod", "download", "-json", modulePath+"@"+bi.Main.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", modulePath, bi.Main.Version, m.Error)
	}
	if err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v", modulePath, bi.Main.Version, err)
	}
	return m.Dir, nil
}

// isModuleRoot reports whether dir holds clstr's go.mod.
func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimFunc(first, unicode.IsSpace) == "module "+modulePath
}
