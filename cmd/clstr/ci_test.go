package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/session"
)

// workflowCommands returns the lines of out that the GitHub Actions
// runner would take as workflow commands, by its rules
// (actions/runner, src/Runner.Worker/ActionCommand.cs):
//
//   - the runner reads a stream a line at a time as .NET's ReadLine does:
//     CR, LF and CRLF each end a line;
//   - TryParseV2: after trimming leading white space (char.IsWhiteSpace),
//     the line starts with "::", and a second "::" after it ends the
//     command's name and properties;
//   - TryParse: "##[" anywhere in the line, and a "]" after it.
//
// Both rules then look the command's name up among the registered ones;
// this parser takes every name as registered, which is stricter.
func workflowCommands(out string) []string {
	var found []string
	lines := strings.FieldsFunc(strings.ReplaceAll(out, "\r\n", "\n"), func(r rune) bool { return r == '\n' || r == '\r' })
	for _, line := range lines {
		if isCommandV2(line) || isCommandV1(line) {
			found = append(found, line)
		}
	}
	return found
}

func isCommandV2(line string) bool {
	msg := strings.TrimLeftFunc(line, unicode.IsSpace)
	if !strings.HasPrefix(msg, "::") {
		return false
	}
	end := strings.Index(msg[2:], "::")
	if end < 0 {
		return false
	}
	name, _, _ := strings.Cut(msg[2:2+end], " ")
	return name != ""
}

func isCommandV1(line string) bool {
	i := strings.Index(line, "##[")
	if i < 0 {
		return false
	}
	rb := strings.Index(line[i:], "]")
	if rb < 0 {
		return false
	}
	name, _, _ := strings.Cut(line[i+3:i+rb], " ")
	return name != ""
}

// forged is text that forms workflow commands, as a hostile script or node
// would send it.
var forged = []string{
	"::warning file=src/main.go,line=1::forged warning",
	"   ::add-mask::secret",
	"\t::set-output name=verdict::pass",
	"::group::hidden",
	"::stop-commands::token",
	"\u00a0\u2003::endgroup::",
	"all good ##[error]forged",
	"##[group]x",
	"text\r::notice::after a carriage return",
}

// TestCIWriter checks that no text written through a ciWriter forms a
// workflow command, however it is split between writes, and that what
// the ciWriter writes as a command stays one.
func TestCIWriter(t *testing.T) {
	if cmds := workflowCommands(strings.Join(forged, "\n")); len(cmds) != len(forged) {
		t.Fatalf("the parser finds %d of the %d forged commands: %q", len(cmds), len(forged), cmds)
	}
	for _, text := range forged {
		for split := 0; split <= len(text); split++ {
			var b bytes.Buffer
			w := newCIWriter(&b)
			w.Write([]byte(text[:split]))
			w.Write([]byte(text[split:] + "\n"))
			if cmds := workflowCommands(b.String()); len(cmds) > 0 {
				t.Errorf("%q written in two at %d forms a command: %q", text, split, cmds)
			}
			if got := strings.ReplaceAll(b.String(), zeroWidthSpace, ""); got != text+"\n" {
				t.Errorf("%q came out as %q", text, got)
			}
		}
	}
	var b bytes.Buffer
	w := newCIWriter(&b)
	w.Write([]byte("partial line "))
	w.command("::error title=t::m")
	w.Write([]byte("::error::forged\n"))
	if cmds := workflowCommands(b.String()); len(cmds) != 1 || cmds[0] != "::error title=t::m" {
		t.Errorf("commands %q; want clstr's own only", cmds)
	}
}

// TestNotRunNamesEscaped checks that the "(not run)" lines of the summary
// escape a test's name as the other lines do (a bidi override, a C1
// control), and that the first line and the steps escape a stage's name
// and the target.
func TestNotRunNamesEscaped(t *testing.T) {
	var b bytes.Buffer
	o := newOutput(&b)
	o.Started(session.Challenge{Key: "stage\u202e\x1b[2J", Tests: attest.New().Test("later", func(*attest.Do) {})}, "binary ./kv\x9b", 1)
	o.Step("waiting for \x1b]52;c;aGk=\x07")
	o.finish(&engine.Result{Tests: []engine.TestResult{{Name: "later\u202egnp.exe\u0085\x1b[2J", Status: engine.TestNotRun}}}, engine.VerdictFail, nil, "")
	if strings.ContainsAny(b.String(), "\u202e\u0085\x1b\x07\u009b") || !strings.Contains(b.String(), `later\u202egnp.exe\x85\x1b[2J (not run)`) {
		t.Errorf("the summary shows the name unescaped:\n%q", b.String())
	}
}
