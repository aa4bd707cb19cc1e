package linpage_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/report/linpage"
	"github.com/clstr-dev/clstr/internal/testkit/browsertest"
)

// listener counts the requests that reach a loopback HTTP server.
type listener struct {
	url  string
	hits atomic.Int64
}

func listen(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return l
}

// hostileHistory is a history that is not linearizable whose every text
// tries to become markup: the request paths and bodies (the script's),
// the responses (the node's), the events and the states a describe()
// returns. Each payload, if it ran, would set window.pwned and send a
// request to the listener at url.
func hostileHistory(url string) (history.History, history.Model) {
	run := fmt.Sprintf(`window.pwned=1;new Image().src='%s/x'`, url)
	img := `<img src=x onerror="` + run + `">`
	svg := `<svg onload="` + run + `">`
	closeScript := `</script><script>` + run + `</script>`
	ms := time.Millisecond
	h := history.History{
		Ops: []history.Op{
			{Client: 0, Node: "n1", Method: "PUT", Path: "/kv/k" + img, Body: img, Status: 200, Invoke: 0, Complete: 10 * ms, Outcome: history.OK},
			{Client: 1, Node: "n2", Method: "PUT", Path: "/kv/k" + img, Body: closeScript, Status: 200, Invoke: 20 * ms, Complete: 30 * ms, Outcome: history.OK},
			{Client: 2, Node: "n3", Method: "GET", Path: "/kv/k" + img, Status: 200, Response: img, Invoke: 40 * ms, Complete: 50 * ms, Outcome: history.OK},
			{Client: 0, Node: "n1", Method: "GET", Path: "/kv/k" + img, Status: 200, Response: svg + closeScript, Invoke: 60 * ms, Complete: 70 * ms, Outcome: history.OK},
		},
		Events: []history.Event{{Time: 35 * ms, Node: "n2" + img, Text: "KILL " + closeScript}},
	}
	m := history.KV()
	m.DescribeState = func(s any) string { return img + fmt.Sprint(s) + closeScript + svg }
	return h, m
}

// visualize writes the visualization of h as porcupine writes it.
func visualize(t *testing.T, h history.History, m history.Model) []byte {
	t.Helper()
	res := history.Check(h, m, 10*time.Second)
	if res.Verdict != history.NotLinearizable {
		t.Fatalf("the hostile history is %s; it must not be linearizable", res.Verdict)
	}
	path := filepath.Join(t.TempDir(), "raw.html")
	if err := res.Visualize(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestHostileTextInBrowser hovers every operation and annotation of a
// visualization built from hostile text, in Chromium, and checks that no
// text became markup, no script of it ran and no request left the page.
// The page as porcupine writes it is opened too, to show that the test
// sees the attack when there is one.
func TestHostileTextInBrowser(t *testing.T) {
	l := listen(t)
	h, m := hostileHistory(l.url)
	raw := visualize(t, h, m)
	var safe bytes.Buffer
	if err := linpage.Rewrite(&safe, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rawPath, safePath := filepath.Join(dir, "porcupine.html"), filepath.Join(dir, "safe.html")
	for path, data := range map[string][]byte{rawPath: raw, safePath: safe.Bytes()} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	const targets = "#canvas svg rect[data-index]"
	const injected = `(() => !!window.pwned || document.querySelectorAll("#canvas img, #canvas div svg, #canvas script").length > 0)()`

	t.Run("porcupine's page runs the script", func(t *testing.T) {
		p := browsertest.Open(t, rawPath)
		if n := p.Hover(t, targets); n == 0 {
			t.Fatal("the page shows no operation to hover")
		}
		waitFor(func() bool { return l.hits.Load() > 0 })
		if !browsertest.Eval[bool](t, p, injected) || l.hits.Load() == 0 {
			t.Skip("the unsafe page ran nothing in this browser, so it cannot show that the test would see an attack")
		}
		l.hits.Store(0)
	})

	p := browsertest.Open(t, safePath)
	n := p.Hover(t, targets)
	if want := len(h.Ops) + len(h.Events); n < want {
		t.Fatalf("hovered %d operations and events; want at least %d", n, want)
	}
	tip := browsertest.Eval[string](t, p, `document.querySelector("#canvas > div") ? document.querySelector("#canvas > div").textContent : ""`)
	time.Sleep(500 * time.Millisecond) // for an image's error or a request to arrive
	if browsertest.Eval[bool](t, p, injected) {
		t.Errorf("hostile text became markup or ran in the visualization")
	}
	if hits := l.hits.Load(); hits > 0 {
		t.Errorf("the visualization sent %d requests to a loopback listener", hits)
	}
	if !strings.Contains(tip, "<img src=x onerror=") && !strings.Contains(tip, "</script>") {
		t.Errorf("the last tooltip does not show the hostile text as text: %q", tip)
	}
	for _, u := range p.Requests() {
		t.Errorf("the visualization asked for %s", u)
	}
	for _, pr := range p.Problems() {
		t.Errorf("the visualization had an error: %s", pr)
	}
	if !strings.Contains(safe.String(), "Content-Security-Policy") || strings.Contains(safe.String(), "script-src 'unsafe-inline'") {
		t.Errorf("the visualization has no policy, or one that allows inline scripts")
	}
}

func waitFor(cond func() bool) {
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !cond(); {
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRewriteRefusesOtherPages checks that a page without porcupine's
// shape is refused, not passed through.
func TestRewriteRefusesOtherPages(t *testing.T) {
	for _, page := range []string{"", "<html><script>alert(1)</script></html>"} {
		var out bytes.Buffer
		if err := linpage.Rewrite(&out, strings.NewReader(page)); err == nil {
			t.Errorf("Rewrite(%q) passed; want an error", page)
		}
	}
}
