// Package junittest reads a JUnit report as a CI reporter does, for
// tests: strictly, into types declared apart from those that write it, so
// that a wrong element or attribute name shows.
package junittest

import (
	"bytes"
	"encoding/xml"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// The report as a CI reporter reads it, declared apart from the types that
// write it so that a wrong element or attribute name shows.
type (
	// Suites is <testsuites>.
	Suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Name    string   `xml:"name,attr"`
		Counts
		Suites []Suite `xml:"testsuite"`
	}
	// Suite is <testsuite>.
	Suite struct {
		Name string `xml:"name,attr"`
		Counts
		Timestamp string `xml:"timestamp,attr"`
		Cases     []Case `xml:"testcase"`
	}
	// Counts are the attributes of <testsuites> and <testsuite>.
	Counts struct {
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Skipped  int     `xml:"skipped,attr"`
		Time     float64 `xml:"time,attr"`
	}
	// Case is <testcase>.
	Case struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      float64  `xml:"time,attr"`
		Failure   *Problem `xml:"failure"`
		Error     *Problem `xml:"error"`
		Skipped   *Problem `xml:"skipped"`
		SystemOut *string  `xml:"system-out"`
	}
	// Problem is <failure>, <error> or <skipped>.
	Problem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
)

// Kind says what became of a case: "passed", "failure", "error" or
// "skipped".
func (c Case) Kind() string {
	n := 0
	k := "passed"
	for _, p := range []struct {
		name string
		set  bool
	}{{"failure", c.Failure != nil}, {"error", c.Error != nil}, {"skipped", c.Skipped != nil}} {
		if p.set {
			n++
			k = p.name
		}
	}
	if n > 1 {
		return "several"
	}
	return k
}

// problem is the case's failure, error or skipped.
func (c Case) problem() *Problem {
	switch {
	case c.Failure != nil:
		return c.Failure
	case c.Error != nil:
		return c.Error
	}
	return c.Skipped
}

// Read parses the report at path strictly, and checks that it is
// XML 1.0 in UTF-8 with no character that XML forbids.
func Read(t *testing.T, path string) Suites {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("the report does not start with an XML declaration:\n%.200s", data)
	}
	if !utf8.Valid(data) {
		t.Errorf("the report is not valid UTF-8")
	}
	for i, r := range string(data) {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			t.Errorf("the report holds %U at byte %d, which XML 1.0 forbids", r, i)
		}
	}
	var doc Suites
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("parse the report: %v\n%s", err, data)
	}
	return doc
}

// Want is what a test case of the report must say.
type Want struct {
	Name, Kind string
	Message    string   // in the message attribute
	Text       []string // in the failure or error text
	Out        []string // in system-out; nil for no system-out
}

// CheckCases checks that the cases of s, all of class, are want.
func CheckCases(t *testing.T, s Suite, class string, want []Want) {
	t.Helper()
	if len(s.Cases) != len(want) {
		t.Fatalf("suite %s has %d test cases; want %d: %+v", s.Name, len(s.Cases), len(want), s.Cases)
	}
	for i, w := range want {
		c := s.Cases[i]
		if c.Name != w.Name || c.Classname != class || c.Kind() != w.Kind {
			t.Errorf("case %d: name %q, classname %q, %s; want %q, %q, %s", i, c.Name, c.Classname, c.Kind(), w.Name, class, w.Kind)
			continue
		}
		if c.Time < 0 {
			t.Errorf("case %s: time %v", c.Name, c.Time)
		}
		if p := c.problem(); p != nil {
			if !strings.Contains(p.Message, w.Message) || strings.Contains(p.Message, "\n") {
				t.Errorf("case %s: message %q; want one line with %q", c.Name, p.Message, w.Message)
			}
			Contains(t, "text of "+c.Name, p.Text, w.Text...)
		} else if w.Message != "" || w.Text != nil {
			t.Errorf("case %s has no failure, error or skipped; want message %q", c.Name, w.Message)
		}
		switch {
		case w.Out == nil && c.SystemOut != nil:
			t.Errorf("case %s has a system-out; want none:\n%s", c.Name, *c.SystemOut)
		case w.Out != nil && c.SystemOut == nil:
			t.Errorf("case %s has no system-out; want one with %q", c.Name, w.Out)
		case w.Out != nil:
			Contains(t, "system-out of "+c.Name, *c.SystemOut, w.Out...)
		}
	}
}

// CheckCounts checks the counts of what: tests, failures, errors and
// skipped.
func CheckCounts(t *testing.T, what string, c Counts, tests, failures, errors, skipped int) {
	t.Helper()
	got, want := [4]int{c.Tests, c.Failures, c.Errors, c.Skipped}, [4]int{tests, failures, errors, skipped}
	if got != want {
		t.Errorf("%s: tests, failures, errors, skipped = %v; want %v", what, got, want)
	}
}

// Contains checks that text holds every one of wants.
func Contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}
