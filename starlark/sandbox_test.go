//go:build !windows

// These tests make symbolic links and named pipes, which Windows lacks or
// restricts.

package starlark_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"time"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/confine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// hostile is what a script of testdata/hostile declares in its header:
//
//	# limit: execution steps    the run must stop at this limit
//	# at: load                  …while Load runs its top level
//	# set: max-steps=1000       a limit other than the default (repeatable)
//	# error: text               the run must end in a script error with text
//	# load-error: text          Load must fail with text
//	# within: 20s               the whole must end within this time
//	# race: call depth          under the race detector, the run must stop
//	                            at this limit instead, through
//	                            Limits.Runaway (see raceEnabled)
type hostile struct {
	limit, at, errText, loadError, race string
	set                                 []string
	within                              time.Duration
}

func readHostile(t *testing.T, path string) hostile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := hostile{within: 20 * time.Second}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "#")
		if !ok {
			break
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		val = strings.TrimSpace(val)
		if !ok {
			continue
		}
		switch key {
		case "limit":
			h.limit = val
		case "at":
			h.at = val
		case "set":
			h.set = append(h.set, val)
		case "race":
			h.race = val
		case "error":
			h.errText = val
		case "load-error":
			h.loadError = val
		case "within":
			if h.within, err = time.ParseDuration(val); err != nil {
				t.Fatal(err)
			}
		}
	}
	if h.limit == "" && h.errText == "" && h.loadError == "" {
		t.Fatalf("%s declares no expected outcome", path)
	}
	return h
}

// TestHostileScripts runs every script of testdata/hostile sandboxed, one
// at a time (the memory limit samples the whole process's heap), and
// checks that each stops within seconds with the one message it
// expects, leaving no goroutine running and no file written.
func TestHostileScripts(t *testing.T) {
	testenv.Long(t, "it runs every hostile script to its limit")
	paths, err := filepath.Glob("testdata/hostile/*.star")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no hostile scripts: %v", err)
	}
	before := tree(t, "testdata")
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".star"), func(t *testing.T) {
			runHostile(t, path)
		})
	}
	if after := tree(t, "testdata"); after != before {
		t.Errorf("the scripts changed testdata:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// confinedChild is set in a test binary that runHostileConfined started.
var confinedChild bool

// TestMain lets the test binary be the confined child of
// runHostileConfined: it runs the tests it is told to under the kernel's
// limit on its memory.
func TestMain(m *testing.M) {
	confinedChild = confine.Enter()
	if bin := os.Getenv(benchNodeEnv); confinedChild && bin != "" {
		os.Exit(sandboxedBenchChild(bin))
	}
	os.Exit(m.Run())
}

func runHostile(t *testing.T, path string) {
	h := readHostile(t, path)
	lim := starlark.DefaultLimits()
	for _, kv := range h.set {
		k, v, _ := strings.Cut(kv, "=")
		if err := lim.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if h.limit == "memory" && !confinedChild {
		runHostileConfined(t, h, lim.Memory)
		return
	}
	var ranAway *starlark.LimitError
	lim.Runaway = func(e *starlark.LimitError) { ranAway = e }
	if raceEnabled && h.race != "" {
		h.limit = h.race
		defer func() {
			if ranAway == nil || ranAway.Limit != h.race {
				t.Errorf("under the race detector Limits.Runaway got %v; want the limit %q", ranAway, h.race)
			}
		}()
	} else {
		defer func() {
			// The race detector slows the watchdog's samples, so a string
			// that doubles may pass the runaway ceiling before a sample
			// sees the memory limit: the same limit, reached the hard way.
			// Without it (as .ci/run runs these again) the script must stop
			// on its own.
			if ranAway != nil && !(raceEnabled && ranAway.Limit == h.limit) {
				t.Errorf("the script ran away: %v", ranAway)
			}
		}()
	}
	goroutines := runtime.NumGoroutine()
	start := time.Now()
	defer func() {
		if took := time.Since(start); took > h.within {
			t.Errorf("stopped after %v; want within %v", took.Round(time.Millisecond), h.within)
		} else {
			t.Logf("stopped after %v", took.Round(time.Millisecond))
		}
		settled(t, goroutines)
	}()

	s, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS, Sandbox: &lim})
	switch {
	case h.loadError != "":
		if err == nil || !strings.Contains(err.Error(), h.loadError) {
			t.Fatalf("Load: %v; want an error containing %q", err, h.loadError)
		}
		return
	case h.at == "load":
		wantLimit(t, err, err, h.limit)
		return
	case err != nil:
		t.Fatalf("Load: %v", err)
	}

	target := starlarktest.New()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var events bytes.Buffer
	res := s.Suite().Run(ctx, engine.RunOptions{Runtime: target.Runtime, Events: cluster.NewEventLog(&events)})
	if res.CleanupErr != nil {
		t.Errorf("cleanup: %v", res.CleanupErr)
	}
	if v := res.Verdict(); v != engine.VerdictError {
		t.Errorf("verdict %v; want error (clstr cannot judge the target)", v)
	}
	first := res.FirstError()
	var out bytes.Buffer
	var f *engine.Failure
	if errors.As(first, &f) {
		f.Format(&out, false)
	} else if first != nil {
		out.WriteString(first.Error())
	}
	if h.errText != "" {
		if !strings.Contains(out.String(), h.errText) {
			t.Errorf("the error:\n%s\ndoes not contain %q", out.String(), h.errText)
		}
		return
	}
	wantLimit(t, first, errors.New(out.String()), h.limit)
}

// runHostileConfined runs the test of a script that takes memory in a
// child process under the kernel's limit, as clstr run does
// (internal/confine): the watchdog stops most such scripts with the memory
// limit, and the kernel the steps no watchdog can interrupt, however fast
// the machine copies. Either way the script must stop within its time.
func runHostileConfined(t *testing.T, h hostile, memory int64) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	out, err := confine.Run(exe, []string{exe, "-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v"}, nil,
		confine.Budget(memory), &stdout, &stderr)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the confined child: status %d, out of memory %v, crash %q, at most %d MiB mapped, after %v",
		out.Status, out.OutOfMemory, out.Crash, out.Peak>>20, took.Round(time.Millisecond))
	switch {
	case out.OutOfMemory:
		// The kernel stopped it: the memory limit, which clstr run
		// names.
	case out.Status == 0 && strings.Contains(stdout.String(), "--- PASS: "+t.Name()):
		// It stopped itself at the limit it should.
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.Contains(line, "message: ") {
				t.Log(strings.TrimSpace(line))
			}
		}
	default:
		t.Errorf("the confined child failed:\n%s%s", stdout.String(), stderr.String())
	}
	if took > h.within {
		t.Errorf("stopped after %v; want within %v", took.Round(time.Millisecond), h.within)
	}
}

// wantLimit checks that err is the limit named want, and that the message
// the user sees names it once, with the flag that raises it.
func wantLimit(t *testing.T, err, shown error, want string) {
	t.Helper()
	var le *starlark.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v; want the limit %q", err, want)
	}
	if le.Limit != want {
		t.Errorf("limit %q reached (%v); want %q", le.Limit, le, want)
	}
	msg := shown.Error()
	t.Logf("message: %s", msg)
	if n := strings.Count(msg, "limit: "); n != 1 {
		t.Errorf("the message names a limit %d times; want once:\n%s", n, msg)
	}
	for _, part := range []string{"limit: " + want + " (", "--" + le.Flag, "--trust"} {
		if !strings.Contains(msg, part) {
			t.Errorf("the message does not say %q:\n%s", part, msg)
		}
	}
}

// settled waits until no more goroutines run than before the script.
func settled(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines still run, %d before the script:\n%s", runtime.NumGoroutine(), before, buf[:n])
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tree lists the files under dir with their sizes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String())
		if !d.IsDir() {
			b.WriteString(" " + strings.Repeat("", 0))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLoadStaysInside covers what a file corpus cannot hold portably:
// symbolic links that lead out of the script's directory, and a named
// pipe that would block a load that opened it.
func TestLoadStaysInside(t *testing.T) {
	outer := t.TempDir()
	dir := filepath.Join(outer, "challenge")
	other := filepath.Join(outer, "other")
	for _, d := range []string{dir, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, src string) {
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outer, "secret.star"), "x = 1\n")
	write(filepath.Join(other, "x.star"), "x = 1\n")
	write(filepath.Join(dir, "inside.star"), "x = 1\n")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("../secret.star", filepath.Join(dir, "link.star")))
	must(os.Symlink(other, filepath.Join(dir, "sub")))
	must(os.Symlink("inside.star", filepath.Join(dir, "alias.star")))
	must(syscall.Mkfifo(filepath.Join(dir, "pipe.star"), 0o644))
	lim := starlark.DefaultLimits()
	for _, tc := range []struct{ load, want string }{
		{"link.star", "links outside the script's directory"},
		{"sub/x.star", "links outside the script's directory"},
		{"pipe.star", "not a regular file"},
		{"alias.star", ""}, // a link that stays inside is fine
	} {
		script := filepath.Join(dir, "stage.star")
		write(script, "load(\""+tc.load+"\", \"x\")\ntest(\"T\", lambda: x)\n")
		done := make(chan error, 1)
		go func() {
			_, err := starlark.Load(script, starlark.Options{Sandbox: &lim})
			done <- err
		}()
		select {
		case err := <-done:
			if tc.want == "" && err != nil {
				t.Errorf("load(%q): %v", tc.load, err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("load(%q): %v; want an error containing %q", tc.load, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("load(%q) blocks", tc.load)
		}
	}
}
