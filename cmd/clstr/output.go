package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/safetext"
	"github.com/clstr-dev/clstr/internal/session"
)

// output reports a run for a person: a line per test with its duration,
// the failure with everything needed to fix it, and a summary. On a
// terminal it also keeps a live line that says what the run is waiting
// for. It implements engine.Reporter.
type output struct {
	// color adds ANSI colours; live allows the live line. Both are
	// decided once, by newOutput, from the terminal and NO_COLOR.
	color, live bool

	mu sync.Mutex // guards w and shown; the engine, print() and signals write
	w  io.Writer
	// shown is the width of the live line on screen, 0 if none.
	shown int
}

var _ engine.Reporter = (*output)(nil)

// newOutput returns an output to w, with colour and the live line when w
// is a terminal, and no colour when NO_COLOR is set.
func newOutput(w io.Writer) *output {
	color, live := style(isTerminal(w), os.Getenv("NO_COLOR"))
	return &output{w: w, live: live, color: color}
}

// style decides colour and the live line: both on a terminal only, and no
// colour when NO_COLOR is set to anything (no-color.org).
func style(tty bool, noColor string) (color, live bool) {
	return tty && noColor == "", tty
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (o *output) paint(code, s string) string {
	if !o.color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (o *output) green(s string) string  { return o.paint("32", s) }
func (o *output) red(s string) string    { return o.paint("31", s) }
func (o *output) yellow(s string) string { return o.paint("33", s) }
func (o *output) dim(s string) string    { return o.paint("2", s) }
func (o *output) bold(s string) string   { return o.paint("1", s) }

// line writes whole lines, clearing the live line first.
func (o *output) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearLive()
	fmt.Fprintf(o.w, format+"\n", args...)
}

func (o *output) clearLive() {
	if o.shown > 0 {
		fmt.Fprint(o.w, "\r\x1b[K")
		o.shown = 0
	}
}

// setLive replaces the live line, on a terminal only.
func (o *output) setLive(s string) {
	if !o.live {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	const width = 110
	if utf8.RuneCountInString(s) > width {
		s = string([]rune(s)[:width-1]) + "…"
	}
	o.clearLive()
	fmt.Fprint(o.w, o.dim(s))
	o.shown = utf8.RuneCountInString(s)
}

var (
	_ session.Live     = (*output)(nil)
	_ session.Reporter = (*output)(nil)
)

// Started implements session.Live: it says what runs.
func (o *output) Started(s session.Stage, target string, seed uint64) {
	n := len(s.TestNames())
	tests := "tests"
	if n == 1 {
		tests = "test"
	}
	nodes := "nodes"
	if s.Config().Nodes == 1 {
		nodes = "node"
	}
	spare := ""
	if k := s.Config().Spare; k > 0 {
		spare = fmt.Sprintf(" (and %d spare)", k)
	}
	// A stage's name and the target are a challenge author's text.
	o.line("%s", o.bold(fmt.Sprintf("%s: %d %s on %d %s%s", safetext.Line(s.Name()), n, tests, s.Config().Nodes, nodes, spare))+o.dim(" · "+safetext.Line(target)+" · seed "+strconv.FormatUint(seed, 10)))
}

// Step implements engine.Reporter.
func (o *output) Step(text string) {
	text = safetext.Line(text)
	if o.live {
		o.setLive("· " + text + " …")
		return
	}
	o.line("%s", o.dim("· "+text))
}

// TestStarted implements engine.Reporter.
func (o *output) TestStarted(name string) { o.setLive("▸ " + safetext.Line(name)) }

// TestFinished implements engine.Reporter.
func (o *output) TestFinished(tr engine.TestResult) {
	tr.Name = safetext.Line(tr.Name)
	if tr.Status == engine.TestPassed {
		o.line("%s %s %s", o.green("✓"), tr.Name, o.dim("("+duration(tr.Duration)+")"))
		return
	}
	o.line("%s %s %s", o.red("✗"), o.bold(tr.Name), o.dim("("+duration(tr.Duration)+")"))
	o.failure(tr.Err)
}

// Waiting implements engine.Reporter: the live line says what the test
// waits for and how long it has left.
func (o *output) Waiting(w engine.Wait) {
	if !o.live {
		return
	}
	s := fmt.Sprintf("  ⋯ %s: %s %s, %s left", w.Pos, w.What, w.Timing, duration(w.Left()))
	if w.Last != nil {
		last, _, _ := strings.Cut(w.Last.Error(), "\n")
		s += " — " + last
	}
	o.setLive(safetext.Line(s))
}

// print shows what a script prints.
func (o *output) print(pos, msg string) {
	o.line("  %s %s", o.dim(pos+":"), safetext.Text(msg))
}

// interrupted says that a signal, named as "SIGINT", stops the run.
func (o *output) interrupted(sig string) {
	o.line("%s", o.yellow(fmt.Sprintf("interrupted (%s): stopping the cluster …", sig)))
}

// failure writes an error of a test or of the run, indented.
func (o *output) failure(err error) {
	if err == nil {
		return
	}
	var b bytes.Buffer
	var f *engine.Failure
	if errors.As(err, &f) {
		// A failure holds text the script chose (its message, hints,
		// names): shown in color only when it holds no terminal
		// control, escaped and plain otherwise.
		f.Format(&b, false)
		if plain := b.String(); !safetext.Safe(plain) {
			b.Reset()
			b.WriteString(safetext.Text(plain))
		} else if o.color {
			b.Reset()
			f.Format(&b, true)
		}
	} else {
		b.WriteString(o.red(safetext.Text(err.Error())) + "\n")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearLive()
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(o.w, "    %s\n", l)
	}
	fmt.Fprintln(o.w)
}

// Stage implements session.Reporter: it ends a stage that ran with its
// summary (finish). Why a stage could not run is said by whoever found
// out, on standard error.
func (o *output) Stage(oc *session.Outcome) {
	if !oc.NotRun {
		o.finish(oc.Result, oc.Verdict, oc.Interrupted, oc.Logs)
	}
}

// Flush implements session.Reporter: the terminal has nothing to write.
func (o *output) Flush(status int) int { return status }

// finish reports what stopped the run, the tests that did not run, and
// the summary. A run that the signal stoppedBy (nil for none) cut short
// has no verdict: the test it stopped counts as stopped, not failed.
func (o *output) finish(res *engine.Result, verdict engine.Verdict, stoppedBy os.Signal, logDir string) {
	if res.Err != nil {
		o.line("%s %s", o.red("✗"), o.bold(session.StopReason(res.Err)))
		o.failure(session.Cause(res.Err))
	}
	var passed, failed, stopped, notRun, skipped int
	for _, t := range res.Tests {
		switch t.Status {
		case engine.TestPassed:
			passed++
		case engine.TestFailed:
			if stoppedBy != nil {
				stopped++
			} else {
				failed++
			}
		case engine.TestSkipped:
			skipped++
		default:
			notRun++
			o.line("%s", o.dim("- "+safetext.Line(t.Name)+" (not run)"))
		}
	}
	if res.CleanupErr != nil {
		o.line("%s", o.yellow("warning: "+safetext.Line(res.CleanupErr.Error())))
	}
	var counts []string
	add := func(n int, what string) {
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(failed, "failed")
	add(passed, "passed")
	add(stopped, "stopped")
	add(notRun, "not run")
	add(skipped, "skipped")
	summary := strings.Join(counts, ", ")
	if summary == "" {
		summary = "no test ran"
	}
	took := duration(res.Duration)
	switch {
	case stoppedBy != nil:
		o.line("%s  by %s before a verdict: %s in %s", o.yellow(o.bold("INTERRUPTED")), signalName(stoppedBy), summary, took)
	case verdict == engine.VerdictPass:
		o.line("%s  %s in %s", o.green(o.bold("PASSED")), summary, took)
	case verdict == engine.VerdictFail:
		o.line("%s  %s in %s", o.red(o.bold("FAILED")), summary, took)
	default:
		o.line("%s  clstr could not judge the target: %s in %s", o.yellow(o.bold("ERROR")), summary, took)
	}
	if verdict != engine.VerdictPass && logDir != "" {
		o.line("%s", o.dim("logs: "+logDir+"/ (events.log, and <node>.log for each node)"))
	}
	if verdict != engine.VerdictPass {
		o.line("%s", o.dim(fmt.Sprintf("rerun with --seed %d to draw the same random choices", res.Seed)))
	}
}

// duration renders a test's duration: "85ms", "1.2s".
func duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// On GitHub Actions the runner reads every line of a job's output as a
// possible workflow command: a line whose first characters after leading
// white space are "::" (::error, ::add-mask, ::stop-commands …), and a
// line that holds "##[" anywhere (the older form). All of clstr's output
// passes through a ciWriter there (run wraps standard output and
// standard error), which makes sure no text it relays, from a script or a
// node, forms one: it writes a zero-width space (U+200B) between the two
// colons and between "##" and "[", which the runner does not trim and
// which a reader does not see. clstr's own annotations are written
// through command, and are the only workflow commands of a run.
type ciWriter struct {
	mu sync.Mutex // guards the state of the line and w
	w  io.Writer
	// lead: only white space so far on the line; colon: the line's first
	// character after it was ':', written last; hashes: the '#' written
	// last, in a row; partial: an incomplete UTF-8 character at the start
	// of a line, kept for the next write.
	lead    bool
	colon   bool
	hashes  int
	partial []byte
}

// zeroWidthSpace is what ciWriter inserts: U+200B.
const zeroWidthSpace = "\u200b"

// newCIWriter returns a writer to w that no text turns into a workflow
// command.
func newCIWriter(w io.Writer) *ciWriter { return &ciWriter{w: w, lead: true} }

// rawWriter returns the writer a ciWriter writes to, or w.
func rawWriter(w io.Writer) io.Writer {
	if c, ok := w.(*ciWriter); ok {
		return c.w
	}
	return w
}

func (c *ciWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := p
	if len(c.partial) > 0 {
		buf = append(c.partial, p...)
		c.partial = nil
	}
	out := make([]byte, 0, len(buf)+8)
	for i := 0; i < len(buf); {
		b := buf[i]
		// The runner reads lines as .NET's ReadLine does: CR, LF or CRLF
		// ends one.
		if b == '\n' || b == '\r' {
			out = append(out, b)
			c.lead, c.colon, c.hashes = true, false, 0
			i++
			continue
		}
		if c.lead {
			if !utf8.FullRune(buf[i:]) {
				c.partial = append([]byte(nil), buf[i:]...)
				break
			}
			r, size := utf8.DecodeRune(buf[i:])
			if unicode.IsSpace(r) {
				out = append(out, buf[i:i+size]...)
				i += size
				continue
			}
			c.lead = false
			if r == ':' {
				out = append(out, ':')
				c.colon = true
				i++
				continue
			}
		}
		if c.colon && b == ':' {
			out = append(out, zeroWidthSpace...)
		}
		c.colon = false
		switch {
		case b == '#':
			c.hashes++
		case b == '[' && c.hashes >= 2:
			out = append(out, zeroWidthSpace...)
			c.hashes = 0
		default:
			c.hashes = 0
		}
		out = append(out, b)
		i++
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// command writes line, one of clstr's own workflow commands, on a line of
// its own, with any "##[" in its text made harmless too.
func (c *ciWriter) command(line string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := ""
	if !c.lead || len(c.partial) > 0 {
		prefix = "\n"
	}
	c.partial = nil
	c.lead, c.colon, c.hashes = true, false, 0
	line = strings.ReplaceAll(strings.TrimRight(line, "\r\n"), "##[", "##"+zeroWidthSpace+"[")
	_, err := io.WriteString(c.w, prefix+line+"\n")
	return err
}
