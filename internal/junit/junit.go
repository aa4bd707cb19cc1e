// Package junit writes the JUnit report of a clstr command (--junit
// FILE): the XML that CI test reporters read (GitHub Actions reporters,
// GitLab, Jenkins).
package junit

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/atomicfile"
	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/internal/session"
)

// A report describes a command's run as a <testsuites> holding one <testsuite> per stage that ran, and in it one
// <testcase> per test, with a <failure> when the target failed it, an
// <error> when clstr could not judge it, and <skipped/> when it did not
// run. It is a session.Reporter: every stage of the command's session is
// added to the report, and the file is rewritten whole after each one,
// so that it holds every stage that finished: all of them, with clstr
// test --so-far.

// Report is the JUnit report of a command, written to path. Stages run
// one after the other, so it needs no lock.
type Report struct {
	path   string
	stderr io.Writer // where an error writing it goes
	suites []xmlSuite
}

var _ session.Reporter = (*Report)(nil)

// New returns an empty report to be written to path; stderr is where
// an error writing it goes.
func New(path string, stderr io.Writer) *Report {
	return &Report{path: path, stderr: stderr}
}

// Stage implements session.Reporter. A test that failed or could not be
// judged gets the tails of the stage's logs; a stage that could not run
// at all is a test case, named by what stopped it, before its tests.
func (r *Report) Stage(o *session.Outcome) {
	stopped := ""
	if o.NotRun {
		stopped = o.Stopped
	}
	r.suites = append(r.suites, newSuite(o.Stage, o.Result, o.LogDir, o.Ended, stopped))
}

// Flush implements session.Reporter: it writes the report, and says on
// stderr when it cannot, which turns a pass into session.Error but never
// hides a failure.
func (r *Report) Flush(status int) int {
	if err := r.save(); err != nil {
		fmt.Fprintf(r.stderr, "clstr: write the JUnit report %s: %v\n", r.path, err)
		if status == session.Pass {
			return session.Error
		}
	}
	return status
}

// save replaces the file with the report at once, through a temporary file
// beside it, so that a reader never sees half a report.
func (r *Report) save() error {
	data, err := r.marshal()
	if err != nil {
		return err
	}
	if st, err := os.Stat(r.path); err == nil && st.IsDir() {
		return errors.New("it is a directory")
	}
	dir := filepath.Dir(r.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(r.path, data, 0o644)
}

// marshal renders the report as an XML document.
func (r *Report) marshal() ([]byte, error) {
	doc := xmlDocument{Name: "clstr", Suites: r.suites}
	for _, s := range r.suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.seconds += s.seconds
	}
	doc.Time = seconds(time.Duration(doc.seconds * float64(time.Second)))
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// The elements of the report. Every text in them has been through xmlText.
type (
	xmlDocument struct {
		XMLName xml.Name `xml:"testsuites"`
		Name    string   `xml:"name,attr"`
		xmlCounts
		Suites []xmlSuite `xml:"testsuite"`
	}
	xmlSuite struct {
		Name string `xml:"name,attr"`
		xmlCounts
		Timestamp string    `xml:"timestamp,attr"`
		Cases     []xmlCase `xml:"testcase"`
	}
	// xmlCounts are the attributes of <testsuites> and <testsuite>.
	xmlCounts struct {
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		seconds  float64
	}
	xmlCase struct {
		Name      string      `xml:"name,attr"`
		Classname string      `xml:"classname,attr"`
		Time      string      `xml:"time,attr"`
		Failure   *xmlProblem `xml:"failure,omitempty"`
		Error     *xmlProblem `xml:"error,omitempty"`
		Skipped   *xmlSkipped `xml:"skipped,omitempty"`
		SystemOut *xmlCDATA   `xml:"system-out"`
	}
	// xmlCDATA is text kept as it is, newlines included, in CDATA
	// sections.
	xmlCDATA struct {
		Text string `xml:",cdata"`
	}
	xmlProblem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",cdata"`
	}
	xmlSkipped struct {
		Message string `xml:"message,attr"`
	}
)

// newSuite describes the result of running s, which ended at end. It
// judges as the terminal output does (engine.Blame): the target's
// fault is a <failure>, anything else that stopped a test or the run an
// <error>. What stopped the run outside any test, such as a cluster that
// did not start, is a test case of its own, named as the terminal names it
// unless stopped names it.
func newSuite(s session.Stage, res *engine.Result, logDir string, end time.Time, stopped string) xmlSuite {
	name := s.Name()
	if session.IsChallenge(s) {
		_, name, _ = strings.Cut(name, "/") // challenge/stage: the stage's key
	}
	class := xmlText(s.Name())
	js := xmlSuite{
		Name:      xmlText(name),
		xmlCounts: xmlCounts{Time: seconds(res.Duration), seconds: res.Duration.Seconds()},
		Timestamp: end.Add(-res.Duration).UTC().Format("2006-01-02T15:04:05"),
	}
	if res.Err != nil && stopped == "" {
		stopped = session.StopReason(res.Err)
	}
	failed := slices.ContainsFunc(res.Tests, func(t engine.TestResult) bool { return t.Status == engine.TestFailed })
	if res.Err != nil && !failed {
		c := xmlCase{Name: xmlText(stopped), Classname: class, Time: seconds(0)}
		c.setProblem(res.Err, failureText(session.Cause(res.Err)), logDir)
		js.Cases = append(js.Cases, c)
	}
	notRun := "an earlier test failed"
	if res.Err != nil {
		notRun = stopped
	}
	for _, t := range res.Tests {
		c := xmlCase{Name: xmlText(t.Name), Classname: class, Time: seconds(t.Duration)}
		switch t.Status {
		case engine.TestFailed:
			if res.Err != nil {
				// The run was stopped (interrupted) during the test: that,
				// not the test, is why it failed.
				c.setProblem(res.Err, failureText(t.Err)+failureText(res.Err), logDir)
			} else {
				c.setProblem(t.Err, failureText(t.Err), logDir)
			}
		case engine.TestNotRun:
			c.Skipped = &xmlSkipped{Message: xmlText("not run: " + notRun)}
		case engine.TestSkipped:
			c.Skipped = &xmlSkipped{Message: "skipped: --run does not select it"}
		}
		js.Cases = append(js.Cases, c)
	}
	js.Tests = len(js.Cases)
	for _, c := range js.Cases {
		switch {
		case c.Failure != nil:
			js.Failures++
		case c.Error != nil:
			js.Errors++
		case c.Skipped != nil:
			js.Skipped++
		}
	}
	return js
}

// setProblem makes the case a <failure> or an <error> as judge says of
// err, with text in full and the tails of the logs in logDir.
func (c *xmlCase) setProblem(err error, text, logDir string) {
	p := &xmlProblem{Message: xmlText(summary(err)), Text: xmlText(bound(text, maxProblemText))}
	if judge(err) == engine.VerdictFail {
		c.Failure = p
	} else {
		c.Error = p
	}
	if logDir != "" {
		if tail := logTail(logDir); tail != "" {
			c.SystemOut = &xmlCDATA{xmlText(tail)}
		}
	}
}

// judge tells whether err is the target's failure (VerdictFail) or leaves
// clstr unable to judge it (VerdictError), as the exit status does.
func judge(err error) engine.Verdict {
	return (&engine.Result{Err: err}).Verdict()
}

// failureText is err as the terminal shows it, without colour: for a
// check, what it checked, every node's answer and the hint.
func failureText(err error) string {
	var f *engine.Failure
	if errors.As(err, &f) {
		var b bytes.Buffer
		f.Format(&b, false)
		return b.String()
	}
	return strings.TrimRight(err.Error(), "\n") + "\n"
}

// summary is the first line of err, cut short, for a message attribute.
func summary(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	const max = 300
	if len(line) > max {
		line = cutAt(line, max) + "…"
	}
	return line
}

// seconds renders d for a time attribute, in seconds to the microsecond
// ("0.000412", "4.3"): what took any time never reads as 0.
func seconds(d time.Duration) string {
	if d > 0 {
		d = max(d.Round(time.Microsecond), time.Microsecond)
	}
	s := strings.TrimRight(strconv.FormatFloat(d.Seconds(), 'f', 6, 64), "0")
	return strings.TrimSuffix(s, ".")
}

// Bounds of the texts of the report.
const (
	maxProblemText = 64 << 10 // bytes of a failure's text
	tailEventLines = 40       // lines of events.log in a <system-out>
	tailNodeLines  = 20       // lines of each node's log
	tailLineBytes  = 400      // bytes of one line of a log
	tailReadBytes  = 64 << 10 // bytes read from the end of a log
)

// logTail is the end of the event log and of each node's log in dir (in
// node order, n2 before n10), for a test case's <system-out>; files that
// are missing are left out.
func logTail(dir string) string {
	files, _ := runlog.Files(dir)
	var b strings.Builder
	for _, f := range files {
		n := tailNodeLines
		if f.IsEvents() {
			n = tailEventLines
		}
		lines, cut, err := lastLines(f.Path, n)
		if err != nil || len(lines) == 0 {
			continue
		}
		if cut {
			fmt.Fprintf(&b, "==> %s (last %d lines) <==\n", f.Path, len(lines))
		} else {
			fmt.Fprintf(&b, "==> %s <==\n", f.Path)
		}
		for _, l := range lines {
			if len(l) > tailLineBytes {
				l = cutAt(l, tailLineBytes) + "…"
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// lastLines returns the last n lines of the file at path, reading at most
// tailReadBytes of it, and whether there were more.
func lastLines(path string, n int) (lines []string, cut bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	off := max(st.Size()-tailReadBytes, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, false, err
	}
	text := string(buf)
	if off > 0 {
		// The first line read is most likely a part of one.
		_, text, _ = strings.Cut(text, "\n")
		cut = true
	}
	lines = strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, cut, nil
	}
	if len(lines) > n {
		lines, cut = lines[len(lines)-n:], true
	}
	return lines, cut, nil
}

// bound cuts s to at most max bytes, saying how much it left out.
func bound(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return cutAt(s, max) + fmt.Sprintf("\n… (%d bytes left out)\n", len(s)-len(cutAt(s, max)))
}

// cutAt cuts s to at most n bytes, at the start of a character.
func cutAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ansiEscape matches the colour and cursor sequences of a terminal, which
// a node's log may hold.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]`)

// xmlText makes s fit for an XML 1.0 document: it drops terminal escape
// sequences and the control characters XML forbids (all below U+0020 but
// tab, newline and carriage return), replaces bytes that are not UTF-8,
// and U+FFFE and U+FFFF, with U+FFFD, and ends lines with a newline alone,
// as an XML parser would read them in a CDATA section. encoding/xml
// escapes the rest.
func xmlText(s string) string {
	s = ansiEscape.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size == 1, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
