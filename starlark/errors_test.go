package starlark_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
)

// writeFiles writes files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chdir makes dir the working directory for the test, so that positions
// are relative to it.
func chdir(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}

var testStdlib = fstest.MapFS{
	"util.star":   {Data: []byte("def twice(x):\n    return 2 * x\n")},
	"broken.star": {Data: []byte("def f(:\n")},
	"escape.star": {Data: []byte("load(\"../x.star\", \"x\")\n")},
}

// TestLoadErrors checks that every error found before the cluster starts
// says where it is, as file:line:col.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		symlink [2]string // target, link (relative to the script's directory)
		want    string    // the whole error
	}{
		{
			name:  "syntax error",
			files: map[string]string{"s/main.star": "suite()\n\ndef f(:\n    pass\n"},
			want:  "s/main.star:3:8: got ':', want ')'",
		},
		{
			name:  "syntax error in a module",
			files: map[string]string{"s/main.star": "load(\"lib.star\", \"x\")\n", "s/lib.star": "x = (1\n"},
			want:  "s/lib.star:2:1: got end of file, want ')'",
		},
		{
			name:  "undefined name",
			files: map[string]string{"s/main.star": "suite()\n\ndef t():\n    gett(\"n1\", \"/\")\n\ntest(\"t\", t)\n"},
			want:  "s/main.star:4:5: undefined: gett (did you mean get?)",
		},
		{
			name:  "several undefined names",
			files: map[string]string{"s/main.star": "a = b\nc = d\n"},
			want:  "s/main.star:1:5: undefined: b\ns/main.star:2:5: undefined: d",
		},
		{
			name:  "missing module",
			files: map[string]string{"s/main.star": "\nload(\"helpers.star\", \"h\")\n"},
			want:  "s/main.star:2:6: cannot load helpers.star: no such file (looked for s/helpers.star)",
		},
		{
			name:  "missing stdlib module",
			files: map[string]string{"s/main.star": "load(\"@stdlib//nope.star\", \"h\")\n"},
			want:  "s/main.star:1:6: cannot load @stdlib//nope.star: no such standard library module",
		},
		{
			name:  "escaping load",
			files: map[string]string{"s/main.star": "load(\"../secret.star\", \"x\")\n", "secret.star": "x = 1\n"},
			want:  "s/main.star:1:6: cannot load ../secret.star: it is outside the script's directory",
		},
		{
			name:    "escaping symlink",
			files:   map[string]string{"s/main.star": "load(\"link.star\", \"x\")\n", "secret.star": "x = 1\n"},
			symlink: [2]string{"../secret.star", "link.star"},
			want:    "s/main.star:1:6: cannot load link.star: it links outside the script's directory",
		},
		{
			name:  "absolute load",
			files: map[string]string{"s/main.star": "load(\"/etc/passwd\", \"x\")\n"},
			want:  "s/main.star:1:6: cannot load /etc/passwd: use a path relative to the script",
		},
		{
			name:  "other repository",
			files: map[string]string{"s/main.star": "load(\"@other//x.star\", \"x\")\n"},
			want:  "s/main.star:1:6: cannot load @other//x.star: the only repository is @stdlib",
		},
		{
			name:  "load cycle",
			files: map[string]string{"s/main.star": "load(\"a.star\", \"x\")\n", "s/a.star": "load(\"b.star\", \"y\")\nx = 1\n", "s/b.star": "load(\"a.star\", \"x\")\ny = 1\n"},
			want:  "s/b.star:1:6: load cycle: s/a.star loads itself again",
		},
		{
			name:  "syntax error in the stdlib",
			files: map[string]string{"s/main.star": "load(\"@stdlib//broken.star\", \"f\")\n"},
			want:  "@stdlib//broken.star:1:8: got ':', want ')'",
		},
		{
			name:  "stdlib loads outside the stdlib",
			files: map[string]string{"s/main.star": "load(\"@stdlib//escape.star\", \"x\")\n"},
			want:  "@stdlib//escape.star:1:6: cannot load ../x.star from the standard library: it may load only @stdlib// modules",
		},
		{
			name:  "missing script",
			files: map[string]string{},
			want:  "cannot read the script s/main.star: no such file",
		},
		{
			name:  "undefined name of a module",
			files: map[string]string{"s/main.star": "load(\"lib.star\", \"nope\")\n", "s/lib.star": "x = 1\n"},
			want:  "s/main.star:1:1: load: name nope not found in module lib.star",
		},
		{
			name:  "runtime error at the top level",
			files: map[string]string{"s/main.star": "def f(x):\n    return x[3]\n\nf([1])\n"},
			want: "s/main.star:2:13: list index 3 out of range [-1:0]\n" +
				"Traceback (most recent call last):\n" +
				"  s/main.star:4:2: in <toplevel>\n" +
				"  s/main.star:2:13: in f",
		},
		{
			name:  "runtime error in a module",
			files: map[string]string{"s/main.star": "load(\"lib.star\", \"x\")\n", "s/lib.star": "x = 1 // 0\n"},
			want: "s/lib.star:1:7: floored division by zero\n" +
				"Traceback (most recent call last):\n" +
				"  s/main.star:1:1: in <toplevel>\n" +
				"  s/lib.star:1:7: in <toplevel>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			if tc.symlink[1] != "" {
				if err := os.Symlink(tc.symlink[0], filepath.Join(dir, "s", tc.symlink[1])); err != nil {
					t.Fatal(err)
				}
			}
			chdir(t, dir)
			_, err := starlark.Load("s/main.star", starlark.Options{Stdlib: testStdlib})
			if err == nil {
				t.Fatalf("Load succeeded; want %q", tc.want)
			}
			if got := err.Error(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to start with:\n%s", got, tc.want)
			}
			var se *starlark.Error
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *starlark.Error", err)
			}
		})
	}
}

// TestLoads checks what loading modules does: relative loads, the stdlib,
// each module run once, and the files a watcher must watch.
func TestLoads(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"s/main.star": `load("lib/a.star", "a")
load("lib/b.star", "b")
load("@stdlib//util.star", "twice")
if a != b or twice(a) != 2:
    fail("a %s b %s" % (a, b))
test("t", lambda: None)
`,
		"s/lib/a.star":       "load(\"counter.star\", \"n\")\na = n\n",
		"s/lib/b.star":       "load(\"counter.star\", \"n\")\nb = n\n",
		"s/lib/counter.star": "print(\"counter runs\")\nn = 1\n",
	})
	chdir(t, dir)
	var prints []string
	s, err := starlark.Load("s/main.star", starlark.Options{Stdlib: testStdlib, Print: func(pos, msg string) {
		prints = append(prints, pos+": "+msg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"s/lib/counter.star:1:6: counter runs"}; strings.Join(prints, "\n") != strings.Join(want, "\n") {
		t.Errorf("prints %q; want %q (each module runs once)", prints, want)
	}
	files := s.Files()
	if len(files) != 4 {
		t.Errorf("Files() = %q; want the script and its 3 modules", files)
	}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			t.Errorf("Files(): %q is not absolute", f)
		}
	}
}

// TestRunErrors checks the failures of scripts as they run: a script
// error carries its backtrace, and a cancelled run stops Starlark code.
func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"spin.star": "suite()\n\ndef spin():\n    while True:\n        pass\n\ntest(\"spins\", spin)\n",
	})
	chdir(t, dir)
	s, err := starlark.Load("spin.star", starlark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := starlarktest.New()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	done := make(chan *engine.Result)
	go func() { done <- s.Suite().Run(ctx, engine.RunOptions{Runtime: target.Runtime}) }()
	select {
	case res := <-done:
		if v := res.Verdict(); v != engine.VerdictError {
			t.Errorf("verdict %v; want an error for a cancelled run", v)
		}
		if err := res.FirstError(); err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("error %v; want the run interrupted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the run did not stop a spinning script")
	}
}

// TestSleepInterrupted cancels sandboxed runs while their test sleeps: a
// sleep that the cancellation cuts short fails the test, however the
// cancellation reaches the sandbox's own context, and no run passes.
func TestSleepInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"sleeps.star": "suite()\ntest(\"sleeps\", lambda: sleep(\"90s\"))\n",
	})
	chdir(t, dir)
	lim := starlark.DefaultLimits()
	s, err := starlark.Load("sleeps.star", starlark.Options{Sandbox: &lim})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		target := starlarktest.New()
		ctx, cancel := context.WithCancel(context.Background())
		log := cluster.NewEventLog(nil)
		started := make(chan struct{})
		go func() {
			for !slices.ContainsFunc(log.Events(), func(e cluster.Event) bool { return e.Kind == cluster.EventTest && e.Detail == "sleeps" }) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			close(started)
			cancel()
		}()
		res := s.Suite().Run(ctx, engine.RunOptions{Runtime: target.Runtime, Events: log})
		<-started
		if v := res.Verdict(); v != engine.VerdictError {
			t.Fatalf("run %d: verdict %v; want an error for a run cancelled in its sleep", i, v)
		}
	}
}
