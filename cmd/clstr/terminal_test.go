package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// evil is text a hostile script prints, fails with or logs: OSC 52 writes
// the clipboard, CSI moves the cursor up to repaint a line as passed, a
// carriage return and a newline forge a line.
const evil = "\x1b]52;c;Y3VybCBldmlsfHNo\x07\x1b[1A\x1b[2K\r✓ all tests passed\nFORGED"

// TestScriptTextEscaped checks that what a script controls reaches the
// terminal and the event log with its controls escaped: no ESC, BEL or CR
// from the script is written, and a logged newline does not start a line
// of the event log.
func TestScriptTextEscaped(t *testing.T) {
	var buf bytes.Buffer
	o := newOutput(&buf)
	o.color = true
	o.print("s.star:1:1", evil)
	o.failure(&engine.Failure{Test: "t", Pos: "s.star:2:5", Problem: evil, Hint: evil})
	o.failure(errors.New(evil))
	o.TestFinished(engine.TestResult{Name: evil, Status: engine.TestPassed})
	out := buf.String()
	// The only ESC allowed is clstr's own colors.
	for _, bad := range []string{"\x1b]", "\x1b[1A", "\x1b[2K", "\x07", "\r"} {
		if strings.Contains(out, bad) {
			t.Errorf("the terminal got %q:\n%q", bad, out)
		}
	}
	if !strings.Contains(out, `\x1b]52;c;`) {
		t.Errorf("the escaped text is missing:\n%q", out)
	}

	var log bytes.Buffer
	events := cluster.NewEventLog(&log)
	events.Add(cluster.Event{Kind: cluster.EventLogged, Detail: evil})
	events.Close()
	if n := strings.Count(log.String(), "\n"); n != 1 || strings.Contains(log.String(), "\x1b") {
		t.Errorf("one logged event made %d lines:\n%q", n, log.String())
	}
}
