// Package render renders what the engine shows people — durations, status
// codes, numbers — the same way in package attest and in its results.
package render

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Duration rounds a duration for people: "1.2s", "250ms", "830µs".
func Duration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// Status renders a status code with its text: "503 Service Unavailable".
func Status(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// numberPattern is a decimal number as JSON and people write it; it leaves
// out what strconv also accepts but nobody means (inf, nan, hex, _).
var numberPattern = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// IsNumber reports whether s, spaces around it aside, is a decimal number:
// failure output shows such text bare, and matchers compare it as a number.
func IsNumber(s string) bool { return numberPattern.MatchString(strings.TrimSpace(s)) }
