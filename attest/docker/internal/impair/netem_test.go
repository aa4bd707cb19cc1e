//go:build linux

package impair

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// TestNetemOptionsMatchTc compares the netem request with what iproute2's
// tc sends for the same impairments (testdata/netem-golden.sh).
func TestNetemOptionsMatchTc(t *testing.T) {
	tests := []struct {
		golden string
		p      Params
	}{
		{"netem-delay.bin", Params{Delay: 50 * time.Millisecond, Correlation: cluster.Correlation}},
		{"netem-loss.bin", Params{Loss: 20, Correlation: cluster.Correlation}},
		{"netem-loss-uncorrelated.bin", Params{Loss: 20}},
		{"netem-all.bin", Params{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 10, Duplicate: 5, Reorder: 25, Correlation: cluster.Correlation}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			got := netemOptions(tc.p)
			if !bytes.Equal(got, want) {
				n := min(len(got), len(want))
				at := n
				for i := range n {
					if got[i] != want[i] {
						at = i
						break
					}
				}
				t.Fatalf("%v: %d bytes, tc sends %d; first difference at byte %d:\n got %x\nwant %x", tc.p, len(got), len(want), at, got[at:min(at+32, len(got))], want[at:min(at+32, len(want))])
			}
		})
	}
}

// TestTowardsOptionsMatchTc compares the prio qdisc and u32 filter that
// pick destinations out with what tc sends for the same
// (testdata/netem-golden.sh).
func TestTowardsOptionsMatchTc(t *testing.T) {
	tests := []struct {
		golden string
		got    []byte
	}{
		{"prio-bands4.bin", prioOptions()},
		{"u32-dst.bin", u32DstOptions(netip.MustParseAddr("10.0.42.103"))},
	}
	for _, tc := range tests {
		want, err := os.ReadFile(filepath.Join("testdata", tc.golden))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.golden, tc.got, want)
		}
	}
}

// TestNormalTableMatchesIproute2 compares the generated distribution with
// the normal.dist that iproute2 installs, where it is installed.
func TestNormalTableMatchesIproute2(t *testing.T) {
	var text []byte
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/tc/normal.dist", "/usr/lib/tc/normal.dist", "/usr/share/tc/normal.dist", "/usr/lib64/tc/normal.dist"} {
		if b, err := os.ReadFile(p); err == nil {
			text = b
			break
		}
	}
	if text == nil {
		t.Skip("skipped: iproute2's normal.dist is not installed here; TestNetemOptionsMatchTc still checks the table against tc's captured request")
	}
	var want []int16
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, f := range strings.Fields(line) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, int16(v))
		}
	}
	table := normalTable()
	if len(table) != 2*len(want) {
		t.Fatalf("table has %d entries, normal.dist %d", len(table)/2, len(want))
	}
	for i, w := range want {
		if got := int16(binary.NativeEndian.Uint16(table[2*i:])); got != w {
			t.Errorf("entry %d is %d, normal.dist has %d", i, got, w)
		}
	}
}

// TestNetemLossChain runs the loss parameters netemOptions sends through
// netem's 4-state loss generator (loss_4state in sch_netem.c, with p32,
// p14 and p23 zero) and checks that it is the Scheduler's chain: the same
// rate and the same P(loss | loss). It also shows why the plain "loss P
// ρ" is not used: netem's correlated draw (get_crandom) loses far less
// than asked.
func TestNetemLossChain(t *testing.T) {
	const n = 400000
	rng := rand.New(rand.NewPCG(5, 6))
	for _, pct := range []float64{5, 20, 80} {
		p := Params{Loss: pct, Correlation: cluster.Correlation}
		opts := netemOptions(p)
		// The nested TCA_NETEM_LOSS is last here: its gimodel starts 20
		// bytes from the end.
		gi := opts[len(opts)-20:]
		a1, a2 := binary.NativeEndian.Uint32(gi), binary.NativeEndian.Uint32(gi[4:])
		if binary.NativeEndian.Uint32(opts[8:]) != 0 {
			t.Fatalf("loss %g%%: plain random loss is set beside the state model", pct)
		}
		lostBurst := false // netem starts in TX_IN_GAP_PERIOD
		var netemLost, netemPairs, netemAfter int
		var classicLost int
		var last uint64
		rho := uint64(percent(cluster.Correlation*100)) + 1
		for range n {
			rnd := rng.Uint32()
			prev := lostBurst
			if lostBurst {
				lostBurst = rnd >= a2 // else back to TX_IN_GAP_PERIOD
			} else {
				lostBurst = rnd < a1 // TX_IN_GAP_PERIOD → LOST_IN_BURST_PERIOD
			}
			if prev {
				netemAfter++
			}
			if lostBurst {
				netemLost++
				if prev {
					netemPairs++
				}
			}
			// get_crandom and "loss >= answer".
			last = (uint64(rng.Uint32())*((1<<32)-rho) + last*rho) >> 32
			if uint64(percent(pct)) >= last {
				classicLost++
			}
		}
		ds, _ := decide(p, 5, n)
		var schedLost int
		for _, d := range ds {
			if d.Drop {
				schedLost++
			}
		}
		netemRate, schedRate := float64(netemLost)/n, float64(schedLost)/n
		cond := float64(netemPairs) / float64(netemAfter)
		want := pct/100 + cluster.Correlation*(1-pct/100)
		t.Logf("loss %g%%: netem state model %.4f (P(loss | loss) %.4f), scheduler %.4f, netem's classic correlated loss %.4f",
			pct, netemRate, cond, schedRate, float64(classicLost)/n)
		if math.Abs(netemRate-pct/100) > .01 || math.Abs(schedRate-pct/100) > .01 {
			t.Errorf("loss %g%%: netem's model loses %.4f, the scheduler %.4f", pct, netemRate, schedRate)
		}
		if math.Abs(cond-want) > .01 {
			t.Errorf("loss %g%%: netem's model has P(loss | loss) %.4f, want %.4f", pct, cond, want)
		}
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		pct  float64
		want uint32
	}{
		{0, 0}, {100, 0xffffffff}, {25, 0x40000000}, {10, 0x1999999a}, {5, 0x0ccccccd}, {30, 0x4ccccccc},
	}
	for _, tc := range tests {
		if got := percent(tc.pct); got != tc.want {
			t.Errorf("percent(%g) = %#x, want %#x", tc.pct, got, tc.want)
		}
	}
}

// TestTcAgreesNetemIsMissing ties the controller's view to tc's: where tc
// can add a netem qdisc, the kernel has sch_netem.
func TestTcAgreesNetemIsMissing(t *testing.T) {
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("skipped: tc is not installed")
	}
	env := newEnv(t)
	s := Probe(WithNetNS(env.A.Fd()))
	_, err := env.A.Run("tc", "qdisc", "add", "dev", env.A.Dev, "root", "netem", "delay", "1ms")
	if (err == nil) != s.Netem.OK {
		t.Errorf("Probe says netem %v (%s), tc says %v", s.Netem.OK, s.Netem.Reason, err)
	}
}
