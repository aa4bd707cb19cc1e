// Package safetext makes text that a script controls safe to show on a
// terminal or to write to a log: control characters (ESC, CR, BEL,
// backspace, DEL, the C1 controls such as CSI U+009B) and the Unicode
// controls that reorder what is shown (bidi overrides) are written as Go
// escapes, so that no OSC 52 writes the clipboard, no CSI sequence
// repaints a line, and no newline forges a line of a log.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text escapes the controls of s but keeps its newlines and tabs: for
// text shown as several lines (a print, a failure).
func Text(s string) string { return escape(s, true) }

// Line escapes every control of s, newlines included: one line of a log.
func Line(s string) string { return escape(s, false) }

// Safe reports whether Text(s) == s.
func Safe(s string) bool {
	for _, r := range s {
		if unsafe(r, true) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func escape(s string, lines bool) string {
	if (lines && Safe(s)) || (!lines && !strings.ContainsAny(s, "\n\t") && Safe(s)) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && invalidAt(s, i):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && !lines:
			b.WriteString(`\n`)
		case r == '\t' && !lines:
			b.WriteString(`\t`)
		case unsafe(r, lines):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafe reports whether r may change what a terminal shows beyond
// itself.
func unsafe(r rune, lines bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !lines
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f:
		return true
	}
	return false
}

// invalidAt reports whether s holds an invalid UTF-8 byte at i.
func invalidAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 1
}
