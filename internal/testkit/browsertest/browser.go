// Package browsertest opens pages in a real headless Chromium for tests,
// through the DevTools protocol (github.com/chromedp/chromedp), and records
// what would go unseen: script errors, uncaught exceptions, errors of the
// browser's log (a blocked resource, a violated content security policy)
// and every request the page makes beyond its own file.
//
// It drives Debian's chromium package (.ci/run installs it); the test is
// skipped, saying why, where no Chromium is installed, except under CI,
// where it fails.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// ArtifactsEnv names the directory where tests keep screenshots; by
// default it is clstr-test-artifacts in the system's temporary directory.
const ArtifactsEnv = "CLSTR_TEST_ARTIFACTS"

// Page is a page open in a headless Chromium.
type Page struct {
	// Ctx runs chromedp actions on the page.
	Ctx      context.Context
	mu       sync.Mutex // guards url, problems and requests
	url      string     // of the page open
	problems []string
	requests []string
}

// chromium finds the browser: Debian's chromium, or one named by
// CLSTR_CHROMIUM.
func chromium() (string, error) {
	if p := os.Getenv("CLSTR_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH (install Debian's chromium package: apt-get install chromium; .ci/run does)")
}

// Open starts a headless Chromium, opens the file at path in it and
// returns the page once it has loaded. The browser stops when the test
// ends.
func Open(t testing.TB, path string) *Page {
	t.Helper()
	testenv.Long(t, "it renders a page in a real browser")
	exe, err := chromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a browser for this test: %v", err)
		}
		t.Skipf("skipped: the test renders a page in a real browser, and there is none: %v", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	p := &Page{Ctx: ctx}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	p.Goto(t, abs)
	return p
}

// Goto opens the file at path in place of the page.
func (p *Page) Goto(t testing.TB, path string) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.url = "file://" + abs
	p.mu.Unlock()
	nav, stop := context.WithTimeout(p.Ctx, 60*time.Second)
	defer stop()
	if err := chromedp.Do(nav, chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("open %s in chromium: %v", abs, err)
	}
}

// record keeps what the page should not have done.
func (p *Page) record(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p.problems = append(p.problems, fmt.Sprintf("exception at %d:%d: %s", d.LineNumber+1, d.ColumnNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
		}
		p.problems = append(p.problems, "console."+string(e.Type)+": "+strings.Join(parts, " "))
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			p.problems = append(p.problems, fmt.Sprintf("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		if u := e.Request.URL; u != p.url && !strings.HasPrefix(u, "data:") {
			p.requests = append(p.requests, u)
		}
	}
}

// Problems returns the script errors, exceptions and browser log errors
// seen so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Requests returns the URLs the page asked for besides its own.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// CheckClean fails the test if the page hit a script error or asked for
// anything beyond its own file.
func (p *Page) CheckClean(t testing.TB) {
	t.Helper()
	for _, pr := range p.Problems() {
		t.Errorf("the page had an error: %s", pr)
	}
	for _, u := range p.Requests() {
		t.Errorf("the page made a request, but it must open offline: %s", u)
	}
}

// Eval evaluates a JavaScript expression on the page and decodes its
// value into T.
func Eval[T any](t testing.TB, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Screenshot saves a screenshot of the whole page as name (a .png) in
// the artifacts directory (see ArtifactsEnv), and returns its path.
func (p *Page) Screenshot(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "clstr-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.Ctx, 60*time.Second)
	defer cancel()
	// Quality 100 makes a PNG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// Hover moves the mouse to the centre of each element that selector
// matches on the page, in turn, as a person would (the browser's own
// input events, scrolling each element into view first), and returns how
// many it hovered.
func (p *Page) Hover(t testing.TB, selector string) int {
	t.Helper()
	n := Eval[int](t, p, `document.querySelectorAll(`+jsString(selector)+`).length`)
	for i := range n {
		at := Eval[[2]float64](t, p, fmt.Sprintf(`(() => {
			const e = document.querySelectorAll(%s)[%d];
			e.scrollIntoView({block: "center", inline: "center"});
			const r = e.getBoundingClientRect();
			return [r.left + r.width / 2, r.top + r.height / 2];
		})()`, jsString(selector), i))
		ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
		err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1]))
		cancel()
		if err != nil {
			t.Fatalf("hover %s #%d: %v", selector, i, err)
		}
	}
	return n
}

// jsString quotes s as a JavaScript string.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
