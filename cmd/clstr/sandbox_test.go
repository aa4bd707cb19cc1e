package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/starlark"
)

// TestSandboxFlagsAreTheLimits checks that the command line offers a flag
// for each limit of the table, with its default, and no other --max-….
func TestSandboxFlagsAreTheLimits(t *testing.T) {
	var got, want []string
	for _, f := range sandboxFlags() {
		sf, ok := f.(*cli.StringFlag)
		if !ok || !strings.HasPrefix(sf.Name, "max-") {
			continue
		}
		got = append(got, sf.Name+" = "+sf.DefaultText)
	}
	for _, f := range starlark.LimitFlags() {
		want = append(want, f.Name+" = "+f.Default)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the sandbox's flags are\n  %v\nthe limits are\n  %v", got, want)
	}
}
