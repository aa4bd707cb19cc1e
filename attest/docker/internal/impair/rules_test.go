//go:build linux

package impair

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRulesAsNftReadsThem installs the rules and reads them back with the
// nft command, which decodes the expressions the way an operator sees
// them.
func TestRulesAsNftReadsThem(t *testing.T) {
	env := newEnv(t)
	if _, err := env.A.Run("nft", "--version"); err != nil {
		t.Skipf("skipped: the nft command is not available to read the rules back: %v", err)
	}
	r := rules{Loss: 20, Shape: true, Queue: 7, Mark: 0x1234}
	if err := r.install(env.A.Fd()); err != nil {
		t.Fatal(err)
	}
	out, err := env.A.Run("nft", "list", "table", "inet", TableName)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	for _, want := range []string{
		"hook output priority filter + 10; policy accept;",
		"meta oiftype loopback accept",
		"meta mark 0x00001234 accept",
		"numgen random mod 10000 < 2000",
		"queue num 8",
		"queue num 7 bypass",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft does not show %q", want)
		}
	}
	// Replacing keeps the chain and swaps the rules.
	if err := (rules{Loss: 0.5, Queue: 7, Mark: 0x1234}).install(env.A.Fd()); err != nil {
		t.Fatal(err)
	}
	out, _ = env.A.Run("nft", "list", "table", "inet", TableName)
	if !strings.Contains(out, "< 50") || strings.Contains(out, "bypass") || strings.Count(out, "chain output") != 1 {
		t.Errorf("after replacing with loss 0.5%% only:\n%s", out)
	}
	if err := removeRules(env.A.Fd()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := hasTable(env.A.Fd()); ok {
		t.Error("removeRules left the table")
	}
	if err := removeRules(env.A.Fd()); err != nil {
		t.Errorf("removing an absent table: %v", err)
	}
}

// TestRulesTowardsMatchDestinations reads back the rules that impair the
// traffic to some destinations only.
func TestRulesTowardsMatchDestinations(t *testing.T) {
	env := newEnv(t)
	if _, err := env.A.Run("nft", "--version"); err != nil {
		t.Skipf("skipped: the nft command is not available to read the rules back: %v", err)
	}
	to := []netip.Addr{netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.3")}
	r := rules{To: to, Loss: 20, Shape: true, Queue: 7, Mark: 0x1234}
	if err := r.install(env.A.Fd()); err != nil {
		t.Fatal(err)
	}
	defer removeRules(env.A.Fd())
	out, err := env.A.Run("nft", "list", "table", "inet", TableName)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	for _, a := range to {
		for _, want := range []string{
			// nft folds "meta nfproto ipv4" into "ip".
			"ip daddr " + a.String() + " numgen random mod 10000 < 2000",
			"ip daddr " + a.String() + " counter packets 0",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("nft does not show %q", want)
			}
		}
	}
	if n := strings.Count(out, "queue num 7 bypass"); n != 2 {
		t.Errorf("%d queue rules, want one for each of the 2 destinations", n)
	}
}

func TestLossThreshold(t *testing.T) {
	tests := []struct {
		pct  float64
		want uint32
	}{{0, 0}, {0.01, 1}, {0.5, 50}, {20, 2000}, {100, 10000}}
	for _, tc := range tests {
		if got := lossThreshold(tc.pct); got != tc.want {
			t.Errorf("lossThreshold(%g) = %d, want %d", tc.pct, got, tc.want)
		}
	}
}
