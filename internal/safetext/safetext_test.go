package safetext

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, text, line string }{
		{"plain ✓ text", "plain ✓ text", "plain ✓ text"},
		{"a\nb\tc", "a\nb\tc", `a\nb\tc`},
		{"\x1b]52;c;aGk=\x07", `\x1b]52;c;aGk=\x07`, `\x1b]52;c;aGk=\x07`},
		{"\x1b[1A\x1b[2K✓ PASSED\r", `\x1b[1A\x1b[2K✓ PASSED\x0d`, `\x1b[1A\x1b[2K✓ PASSED\x0d`},
		{"csi \u009b31m", `csi \x9b31m`, `csi \x9b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`, `bidi \u202egnp.exe`},
		{"bad \xff utf-8", `bad \xff utf-8`, `bad \xff utf-8`},
	} {
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q; want %q", tc.in, got, tc.text)
		}
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q; want %q", tc.in, got, tc.line)
		}
	}
}
