package main

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestLiveLine checks that the live line appears only on a terminal, says
// what is awaited and how long is left, and is cleared before the next
// line.
func TestLiveLine(t *testing.T) {
	wait := engine.Wait{Test: "t", Pos: "x.star:3:9", What: "GET /health on n1", Timing: engine.TimingEventually,
		Elapsed: time.Second, Timeout: 3 * time.Second, Last: errors.New("expected status is 200, got 503\nmore")}
	tests := []struct {
		name string
		live bool
		want string
	}{
		{"terminal", true, "\x1b[2m  ⋯ x.star:3:9: GET /health on n1 eventually, 2.0s left — expected status is 200, got 503\x1b[0m\r\x1b[K✓ t (5ms)\n"},
		{"pipe", false, "✓ t (5ms)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			o := &output{w: &b, live: tc.live, color: tc.live}
			o.Waiting(wait)
			o.TestFinished(engine.TestResult{Name: "t", Status: engine.TestPassed, Duration: 5 * time.Millisecond})
			got := strings.ReplaceAll(b.String(), "\x1b[32m✓\x1b[0m", "✓")
			got = strings.ReplaceAll(got, "\x1b[2m(5ms)\x1b[0m", "(5ms)")
			if got != tc.want {
				t.Errorf("output %q; want %q", got, tc.want)
			}
		})
	}
}

// TestNoColorOffTerminal checks that output to anything but a terminal
// has neither colour nor a live line.
func TestNoColorOffTerminal(t *testing.T) {
	o := newOutput(&bytes.Buffer{})
	if o.color || o.live {
		t.Errorf("output to a buffer: color %v, live %v; want neither", o.color, o.live)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"}, {850 * time.Millisecond, "850ms"}, {1234 * time.Millisecond, "1.2s"}, {90 * time.Second, "90.0s"},
	}
	for _, tc := range tests {
		if got := duration(tc.d); got != tc.want {
			t.Errorf("duration(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
}

func TestStyle(t *testing.T) {
	tests := []struct {
		name        string
		tty         bool
		noColor     string
		color, live bool
	}{
		{"terminal", true, "", true, true},
		{"terminal with NO_COLOR", true, "1", false, true},
		{"pipe", false, "", false, false},
		{"pipe with NO_COLOR", false, "1", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			color, live := style(tc.tty, tc.noColor)
			if color != tc.color || live != tc.live {
				t.Errorf("style(%v, %q) = %v, %v; want %v, %v", tc.tty, tc.noColor, color, live, tc.color, tc.live)
			}
		})
	}
}

// TestRunFilter checks that --run runs the matching tests and counts the
// others as skipped.
func TestRunFilter(t *testing.T) {
	var b bytes.Buffer
	out := &output{w: &b}
	s, err := starlark.Load("testdata/golden/pass.star", starlark.Options{Stdlib: stdlib.FS})
	if err != nil {
		t.Fatal(err)
	}
	status := runOnFake(out, s, session.Options{Filter: regexp.MustCompile("^has a")})
	if status != exitPass {
		t.Fatalf("exit status %d:\n%s", status, b.String())
	}
	for _, want := range []string{"✓ has a leader", "PASSED  1 passed, 1 skipped"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "✓ writes") {
		t.Errorf("a test --run left out ran:\n%s", b.String())
	}
}

func TestFlagsFirst(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct{ in, want string }{
		{"clstr run s.star --binary ./n", "clstr run --binary ./n s.star"},
		{"clstr run --binary ./n s.star", "clstr run --binary ./n s.star"},
		{"clstr run s.star -v --run x --env A=1", "clstr run -v --run x --env A=1 s.star"},
		{"clstr run s.star --image=t:1", "clstr run --image=t:1 s.star"},
		{"clstr clean --all", "clstr clean --all"},
		{"clstr nosuch a --b", "clstr nosuch a --b"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := strings.Join(flagsFirst(app, strings.Fields(tc.in)), " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
