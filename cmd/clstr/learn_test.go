package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	var b bytes.Buffer
	writeList(&b, &output{w: &b}, testRegistry())
	want := `echo  Echo · 3 stages
  Answer, then answer again.
  1. health  Answer Health Checks
  2. echo    Echo Requests
  3. again   Echo Again

Start one with: clstr init echo
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatus(t *testing.T) {
	reg := testRegistry()
	c, _ := reg.Lookup("echo")
	tests := []struct {
		index int
		want  []string
	}{
		{0, []string{"→ 1. health", "· 2. echo", "· 3. again", "0 of 3 stages passed. Current stage: health."}},
		{1, []string{"✓ 1. health", "→ 2. echo", "· 3. again", "1 of 3 stages passed. Current stage: echo."}},
		{2, []string{"✓ 1. health", "✓ 2. echo", "→ 3. again", "2 of 3 stages passed. Current stage: again."}},
	}
	for _, tc := range tests {
		t.Run(c.Stages[tc.index].Key, func(t *testing.T) {
			var b bytes.Buffer
			w := &workspace{progress: progress{"echo", c.Stages[tc.index].Key}, challenge: c, index: tc.index}
			writeStatus(&b, &output{w: &b}, w)
			for _, want := range append(tc.want, "Echo (echo)") {
				if !strings.Contains(b.String(), want) {
					t.Errorf("status does not contain %q:\n%s", want, b.String())
				}
			}
		})
	}
}
