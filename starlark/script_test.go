package starlark_test

import (
	"testing"

	"github.com/clstr-dev/clstr/starlark/starlarktest"
)

// TestScripts runs the scripts of testdata, each asserting its own
// expectations, against the fake target: adding a case is adding a file.
func TestScripts(t *testing.T) {
	starlarktest.RunScripts(t, "testdata/*.star")
}
