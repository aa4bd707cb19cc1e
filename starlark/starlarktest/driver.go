package starlarktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// expectations are what a script declares in comment lines at its
// top, "# key: value":
//
//	# fail: Test Name         the run must fail at this test (else: pass);
//	                         "(setup)" for a failing setup step
//	# error: text            the run must fail with an error the target is
//	                         not to blame for (exit status 2), in this test
//	                         or, with "# fail:" absent, before any
//	# load-error: text       Load must fail with an error containing text
//	# message: text          the failure, as Format writes it, contains
//	                         text (repeatable)
//	# events: text           the event log contains text (repeatable)
//	# plant: two-leaders     switch on a planted bug of the fake target
//	                         (two-leaders, term-as-string)
type expectations struct {
	fail      string
	errText   string
	loadError string
	messages  []string
	events    []string
	plants    []string
}

var directives = map[string]bool{"fail": true, "error": true, "load-error": true, "message": true, "events": true, "plant": true}

var directive = regexp.MustCompile(`^#\s*([a-z-]+):\s*(.*?)\s*$`)

func parseExpectations(t *testing.T, path string) expectations {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var e expectations
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		m := directive.FindStringSubmatch(line)
		if m == nil || !directives[m[1]] {
			continue // prose
		}
		switch m[1] {
		case "fail":
			e.fail = m[2]
		case "error":
			e.errText = m[2]
		case "load-error":
			e.loadError = m[2]
		case "message":
			e.messages = append(e.messages, m[2])
		case "events":
			e.events = append(e.events, m[2])
		case "plant":
			e.plants = append(e.plants, m[2])
		}
	}
	return e
}

// RunScripts runs every script that pattern matches as a subtest: each
// runs as a suite against a fresh Target, and must end as the expectations
// in its header say. A script that declares nothing must pass; its own
// checks and fail() calls are its assertions.
func RunScripts(t *testing.T, pattern string) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".star"), func(t *testing.T) {
			t.Parallel()
			RunScript(t, path)
		})
	}
}

// RunScript runs one script against a fresh Target and checks the outcome
// its header declares.
func RunScript(t *testing.T, path string) {
	t.Helper()
	want := parseExpectations(t, path)
	var printed bytes.Buffer
	s, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS, Print: func(pos, msg string) {
		printed.WriteString(pos + ": " + msg + "\n")
	}})
	if want.loadError != "" {
		if err == nil {
			t.Fatalf("Load succeeded; want an error containing %q", want.loadError)
		}
		if !strings.Contains(err.Error(), want.loadError) {
			t.Fatalf("Load error:\n%v\nwant it to contain %q", err, want.loadError)
		}
		return
	}
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	target := New()
	for _, p := range want.plants {
		switch p {
		case "two-leaders":
			target.SetTwoLeaders(true)
		case "term-as-string":
			target.SetTermAsString(true)
		default:
			t.Fatalf("unknown plant %q", p)
		}
	}
	var events bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := s.Suite().Run(ctx, engine.RunOptions{Runtime: target.Runtime, Events: cluster.NewEventLog(&events)})
	if res.CleanupErr != nil {
		t.Errorf("cleanup: %v", res.CleanupErr)
	}
	for _, e := range want.events {
		if !strings.Contains(events.String(), e) {
			t.Errorf("event log does not contain %q:\n%s", e, events.String())
		}
	}

	first := res.FirstError()
	var out bytes.Buffer
	if first != nil {
		var f *engine.Failure
		if errors.As(first, &f) {
			f.Format(&out, false)
		} else {
			out.WriteString(first.Error())
		}
	}
	verdict := res.Verdict()
	switch {
	case want.fail == "" && want.errText == "":
		if verdict != engine.VerdictPass {
			t.Fatalf("the script failed:\n%s", out.String())
		}
		return
	case want.errText != "":
		if verdict != engine.VerdictError {
			t.Fatalf("verdict %v; want an error (clstr could not judge); output:\n%s", verdict, out.String())
		}
		if !strings.Contains(out.String(), want.errText) {
			t.Errorf("the error:\n%s\ndoes not contain %q", out.String(), want.errText)
		}
	default:
		if verdict != engine.VerdictFail {
			t.Fatalf("verdict %v; want the target to fail at %q; output:\n%s", verdict, want.fail, out.String())
		}
	}
	if want.fail == "(setup)" {
		if res.Err == nil || !strings.HasPrefix(res.Err.Error(), "setup: ") {
			t.Errorf("run error %v; want a failed setup step", res.Err)
		}
	} else if want.fail != "" {
		failed := ""
		for _, tr := range res.Tests {
			if tr.Status == engine.TestFailed {
				failed = tr.Name
			}
		}
		if failed != want.fail {
			t.Errorf("failed test %q; want %q\n%s", failed, want.fail, out.String())
		}
	}
	for _, m := range want.messages {
		if !strings.Contains(out.String(), m) {
			t.Errorf("failure output does not contain %q:\n%s", m, out.String())
		}
	}
}
