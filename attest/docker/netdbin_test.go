package docker

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestNetdLocatorOrder checks where a sandbox's clstr-netd comes from:
// CLSTR_NETD_BINARY, this program on Linux for the daemon's architecture,
// the release archive's Linux build beside clstr, and failing those one
// line that says what to do.
func TestNetdLocatorOrder(t *testing.T) {
	self, err := os.Executable()
	must(t, err)
	arch := runtime.GOARCH
	other := "arm64"
	if arch == "arm64" {
		other = "amd64"
	}
	text := filepath.Join(t.TempDir(), "clstr.txt")
	must(t, os.WriteFile(text, []byte("not a program\n"), 0o755))
	// An installed clstr with the release archive's Linux build beside it.
	install := t.TempDir()
	must(t, os.WriteFile(filepath.Join(install, "clstr"), []byte("a macOS clstr"), 0o755))
	copyFile(t, self, filepath.Join(install, shippedName(arch)))
	copyFile(t, self, filepath.Join(install, shippedName(other))) // of the wrong machine
	bare := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bare, "clstr"), []byte("a macOS clstr"), 0o755))
	noSource := func(context.Context) (string, error) { return "", errors.New("no source here") }

	tests := []struct {
		name string
		l    *netdLocator
		arch string
		want string
		err  []string
	}{
		{name: "CLSTR_NETD_BINARY", l: &netdLocator{env: self, exe: text, goos: "darwin", goarch: arch}, arch: arch, want: self},
		{name: "CLSTR_NETD_BINARY that is no Linux program", l: &netdLocator{env: text, exe: self, goos: "linux", goarch: arch}, arch: arch,
			err: []string{"CLSTR_NETD_BINARY names " + text, "not a Linux executable"}},
		{name: "itself on Linux", l: &netdLocator{exe: self, goos: "linux", goarch: arch}, arch: arch, want: self},
		{name: "shipped beside clstr", l: &netdLocator{exe: filepath.Join(install, "clstr"), goos: "darwin", goarch: "arm64", source: noSource}, arch: arch,
			want: filepath.Join(install, shippedName(arch))},
		{name: "shipped beside clstr on Linux for another architecture", l: &netdLocator{exe: filepath.Join(install, "clstr"), goos: "linux", goarch: other, source: noSource}, arch: arch,
			want: filepath.Join(install, shippedName(arch))},
		{name: "shipped for the wrong machine", l: &netdLocator{exe: filepath.Join(install, "clstr"), goos: "windows", goarch: arch, source: noSource}, arch: other,
			err: []string{shippedName(other), "but the Docker daemon runs " + other}},
		{name: "nothing at all", l: &netdLocator{exe: filepath.Join(bare, "clstr"), goos: "darwin", goarch: "arm64", source: noSource, cache: t.TempDir()}, arch: other,
			err: []string{"put " + shippedName(other) + " from the release archive in " + bare, "CLSTR_NETD_BINARY", "GOARCH=" + other + " go build ./cmd/clstr", "no source here"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.binary(context.Background(), tc.arch)
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatalf("binary(%s) = %s; want an error", tc.arch, got)
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("the error is more than one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("binary(%s) = %s; want %s", tc.arch, got, tc.want)
			}
		})
	}
}

// TestNetdBuiltFromSource checks that, with no Linux build at hand, clstr
// builds one for the daemon's architecture from its own source with the
// local Go toolchain, static, and finds it in its cache the next time.
func TestNetdBuiltFromSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds clstr for another architecture; skipped with -short")
	}
	self, err := os.Executable()
	must(t, err)
	arch := "arm64"
	if runtime.GOARCH == "arm64" {
		arch = "amd64"
	}
	cache := t.TempDir()
	// What an earlier clstr built: gone once stale, kept while recent.
	stale, recent := filepath.Join(cache, "0123456789abcdef"), filepath.Join(cache, "fedcba9876543210")
	must(t, os.MkdirAll(stale, 0o755))
	must(t, os.MkdirAll(recent, 0o755))
	old := time.Now().Add(-48 * time.Hour)
	must(t, os.Chtimes(stale, old, old))
	l := &netdLocator{exe: self, goos: "darwin", goarch: runtime.GOARCH, source: moduleSource, cache: cache}
	start := time.Now()
	p, err := l.binary(context.Background(), arch)
	must(t, err)
	t.Logf("built %s in %v", p, time.Since(start).Round(time.Millisecond))
	f, err := elf.Open(p)
	must(t, err)
	defer f.Close()
	if f.Machine != elfMachines[arch] {
		t.Errorf("built for %v; want %s", f.Machine, arch)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked; a FROM scratch sandbox needs it static", p)
		}
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the build of an earlier clstr, two days old, is still in the cache")
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("the build of another clstr, made just now, was removed: %v", err)
	}
	// The next run of the same clstr finds it without building.
	again := &netdLocator{exe: self, goos: "darwin", goarch: runtime.GOARCH, cache: cache,
		source: func(context.Context) (string, error) { return "", errors.New("built again") }}
	p2, err := again.binary(context.Background(), arch)
	if err != nil || p2 != p {
		t.Errorf("second run: %s, %v; want the cached %s", p2, err, p)
	}
}

// TestSandboxRunsBuiltNetd plays clstr on a system other than Linux: the
// sandbox runs a clstr built from source for the daemon, which answers
// doctor's probe.
func TestSandboxRunsBuiltNetd(t *testing.T) {
	dockerOrSkip(t)
	if testing.Short() {
		t.Skip("builds clstr; skipped with -short")
	}
	self, err := os.Executable()
	must(t, err)
	cache := t.TempDir()
	saved := netdFinder
	netdFinder = &netdLocator{exe: self, goos: "darwin", goarch: runtime.GOARCH, source: moduleSource, cache: cache}
	t.Cleanup(func() { netdFinder = saved })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d, err := Diagnose(ctx)
	must(t, err)
	if d.Impairments == "" {
		t.Errorf("the built clstr-netd told doctor nothing")
	}
	built, _ := filepath.Glob(filepath.Join(cache, "*", "clstr-netd-linux-*"))
	if len(built) != 1 {
		t.Errorf("the cache holds %v; want the one clstr-netd the sandbox ran", built)
	}
}
