package starlark

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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
	for _, flag := range LimitFlags() {
		l := DefaultLimits()
		if err := l.Set(flag.Name, "1"); err != nil && !strings.Contains(err.Error(), "duration") {
			t.Errorf("Set(%s, \"1\"): %v", flag.Name, err)
		}
	}
}

// TestLimitsTable checks that every field of Limits has one row of the
// table, whose value Set sets and Exceeded shows.
func TestLimitsTable(t *testing.T) {
	var l Limits
	v := reflect.ValueOf(&l).Elem()
	rows := map[string]string{} // field name → flag
	for _, r := range limits {
		p := reflect.ValueOf(r.field(&l)).Pointer()
		found := false
		for i := range v.NumField() {
			if v.Field(i).Addr().Pointer() == p && v.Field(i).Type() == reflect.TypeOf(r.field(&l)).Elem() {
				name := v.Type().Field(i).Name
				if other, ok := rows[name]; ok {
					t.Errorf("Limits.%s has two rows: --%s and --%s", name, other, r.flag)
				}
				rows[name], found = r.flag, true
			}
		}
		if !found {
			t.Errorf("the row of --%s points at no field of Limits", r.flag)
		}
		if r.name == "" || r.usage == "" || !strings.HasPrefix(r.flag, "max-") {
			t.Errorf("the row of --%s lacks a name or a usage", r.flag)
		}
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if _, ok := rows[f.Name]; !ok && f.Type.Kind() != reflect.Func {
			t.Errorf("Limits.%s has no row in the table of limits", f.Name)
		}
	}

	// The defaults, spelled out once more so that a slip in the table
	// shows.
	want := Limits{
		Steps:            10_000_000,
		TestTime:         2 * time.Minute,
		StageTime:        20 * time.Minute,
		Nodes:            32,
		Concurrently:     10_000,
		ConcurrencyLimit: 128,
		RequestBody:      1 << 20,
		ResponseBody:     4 << 20,
		Requests:         200_000,
		Sleep:            2 * time.Minute,
		Depth:            1000,
		Memory:           1 << 30,
		Output:           16 << 20,
		Disk:             2 << 30,
	}
	if got := DefaultLimits(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultLimits() = %+v; want %+v", got, want)
	}

	// Each row's value reads back from what Exceeded shows of it.
	def := DefaultLimits()
	for _, r := range limits {
		e := def.Exceeded(r.flag, "")
		var back Limits
		if err := back.Set(r.flag, strings.ReplaceAll(e.Value, " ", "")); err != nil {
			t.Errorf("--%s: %s does not read back: %v", r.flag, e.Value, err)
		} else if got, want := reflect.ValueOf(r.field(&back)).Elem().Interface(), reflect.ValueOf(r.field(&def)).Elem().Interface(); got != want {
			t.Errorf("--%s: %s reads back as %v; want %v", r.flag, e.Value, got, want)
		}
		if e.Limit != r.name || e.Flag != r.flag {
			t.Errorf("Exceeded(%s) = %+v", r.flag, e)
		}
	}
}

// TestLimitsDocumented checks that the table of limits in docs/sandbox.md
// lists exactly the limits, in order, each with its default.
func TestLimitsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/sandbox.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `--(max-[a-z-]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(b), -1)
	var documented []string
	def := DefaultLimits()
	for _, row := range rows {
		flag, value := row[1], strings.TrimSpace(row[2])
		documented = append(documented, flag)
		r := limitOf(flag)
		if r == nil {
			continue
		}
		var l Limits
		if err := l.Set(flag, value); err != nil {
			t.Errorf("docs/sandbox.md: --%s: default %q: %v", flag, value, err)
			continue
		}
		if got, want := r.text(&l), r.text(&def); got != want {
			t.Errorf("docs/sandbox.md says --%s defaults to %s; it is %s", flag, got, want)
		}
	}
	var want []string
	for _, f := range LimitFlags() {
		want = append(want, f.Name)
	}
	if !slices.Equal(documented, want) {
		t.Errorf("docs/sandbox.md documents the limits\n  %v\nthe table has\n  %v", documented, want)
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
