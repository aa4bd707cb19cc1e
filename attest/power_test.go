package attest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// A power loss is refused, as the environment's problem rather than the
// target's, in a suite that did not ask for durability and on a runtime
// that cannot provide it.
func TestPowerLossRefused(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"without durability", nil, cluster.ErrNotDurable.Error()},
		{"on a runtime without it", []Option{WithDurability()}, "cannot make a node lose power"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := attesttest.New(func(*attesttest.Node) http.Handler {
				return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
			})
			s := suite(1, tc.opts...).Test("lose power", func(do *Do) { do.PowerLoss("n1") })
			res, _ := run(t, s, rt)
			err := res.FirstError()
			var envErr *engine.EnvError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &envErr) {
				t.Errorf("power loss: %v; want an environment error saying %q", err, tc.want)
			}
		})
	}
}
