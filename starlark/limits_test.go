package starlark

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimitsSet(t *testing.T) {
	tests := []struct {
		flag, value string
		check       func(Limits) bool
		err         string
	}{
		{FlagSteps, "1000", func(l Limits) bool { return l.Steps == 1000 }, ""},
		{FlagTestTime, "90s", func(l Limits) bool { return l.TestTime == 90*time.Second }, ""},
		{FlagMemory, "512MiB", func(l Limits) bool { return l.Memory == 512<<20 }, ""},
		{FlagResponseBody, "4MB", func(l Limits) bool { return l.ResponseBody == 4e6 }, ""},
		{FlagOutput, "1024", func(l Limits) bool { return l.Output == 1024 }, ""},
		{FlagNodes, "0", nil, "positive whole number"},
		{FlagSteps, "-5", nil, "positive whole number"},
		{FlagSleep, "forever", nil, "positive duration"},
		{FlagMemory, "9999999999GiB", nil, "positive size"},
		{"max-fun", "1", nil, "no such limit"},
	}
	for _, tc := range tests {
		l := DefaultLimits()
		err := l.Set(tc.flag, tc.value)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Set(%s, %q) = %v; want an error containing %q", tc.flag, tc.value, err, tc.err)
		case tc.err == "" && (err != nil || !tc.check(l)):
			t.Errorf("Set(%s, %q) = %v; limits %+v", tc.flag, tc.value, err, l)
		}
	}
	for _, flag := range LimitFlags {
		l := DefaultLimits()
		if err := l.Set(flag, "1"); err != nil && !strings.Contains(err.Error(), "duration") {
			t.Errorf("Set(%s, \"1\"): %v", flag, err)
		}
	}
}

// TestZeroLimits runs a script under Limits{}: every limit off, and so
// nothing stops it.
func TestZeroLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.star")
	os.WriteFile(path, []byte("def count():\n    n = 0\n    for i in range(100000):\n        n += i\n    return n\n\ntotal = count()\ntest(\"T\", lambda: None)\n"), 0o644)
	_, err := Load(path, Options{Sandbox: &Limits{}})
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.Steps = 1000
	_, err = Load(path, Options{Sandbox: &lim})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "execution steps" || le.Test != "" {
		t.Fatalf("Load with 1000 steps: %v", err)
	}
}
