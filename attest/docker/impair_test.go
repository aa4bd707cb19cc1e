package docker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/testkit/stattest"
)

// udpStats is what the test node's /probe/udp reports.
type udpStats struct {
	Sent       int       `json:"sent"`
	Received   int       `json:"received"`
	Duplicates int       `json:"duplicates"`
	Reordered  int       `json:"reordered"`
	RTT        []float64 `json:"rtt_ms"`
}

func (s udpStats) String() string {
	return fmt.Sprintf("%d/%d received, %d dup, %d reordered, rtt p10 %.1fms p50 %.1fms p90 %.1fms",
		s.Received, s.Sent, s.Duplicates, s.Reordered, quantile(s.RTT, .1), quantile(s.RTT, .5), quantile(s.RTT, .9))
}

// below returns the fraction of round trips faster than ms.
func (s udpStats) below(ms float64) float64 {
	n := sort.SearchFloat64s(s.RTT, ms)
	return float64(n) / float64(max(len(s.RTT), 1))
}

// lost is the share of datagrams that had no reply.
func (s udpStats) lost() float64 { return 1 - float64(s.Received)/float64(max(s.Sent, 1)) }

// duplicated is the share of datagrams whose reply came twice.
func (s udpStats) duplicated() float64 { return float64(s.Duplicates) / float64(max(s.Sent, 1)) }

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// probeUDP has node from send n datagrams to to's UDP echo and report.
func probeUDP(t testing.TB, c *dockerCluster, from, to string, n int) udpStats {
	t.Helper()
	addr, _ := c.Addr(to)
	var s udpStats
	getJSON(t.(*testing.T), c, from, fmt.Sprintf("/probe/udp?peer=%s&n=%d&interval=2ms&wait=400ms", addr, n), &s)
	return s
}

// probeTCP has node from make n requests to to over one TCP connection.
func probeTCP(t *testing.T, c *dockerCluster, from, to string, n int) []float64 {
	t.Helper()
	addr, _ := c.Addr(to)
	var s struct {
		RTT []float64 `json:"rtt_ms"`
	}
	getJSON(t, c, from, fmt.Sprintf("/probe/tcp?peer=%s&n=%d", addr, n), &s)
	return s.RTT
}

// undelayedMS is the highest median round trip, in milliseconds, of
// traffic that no delay holds back. Every delay these tests set is 50 ms
// or more, so a median under half of that tells the two apart, even on a
// loaded machine where an undelayed round trip takes 10 ms or more.
const undelayedMS = 25

func delay(d, jitter time.Duration) cluster.Impairment {
	return cluster.Impairment{Kind: cluster.KindDelay, Delay: d, Jitter: jitter}
}

func pct(kind cluster.ImpairmentKind, p float64) cluster.Impairment {
	return cluster.Impairment{Kind: kind, Percent: p}
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestImpairments impairs n1's outgoing traffic and measures it from n2,
// which sends to n1's UDP echo (so n1's replies carry the impairment) and
// makes HTTP requests to it; n3 is never impaired and must stay untouched.
func TestImpairments(t *testing.T) {
	c, events := testCluster(t, 3, Options{})
	ctx := context.Background()
	// Enough datagrams for a rate to be judged within about 7 points
	// (stattest.Tolerance) at 2ms apart.
	const packets = 1000

	base := probeUDP(t, c, "n2", "n1", packets)
	t.Logf("baseline: %v", base)
	if base.Received != packets || quantile(base.RTT, .5) > undelayedMS {
		t.Fatalf("baseline is not clean: %v", base)
	}

	tests := []struct {
		name  string
		imps  []cluster.Impairment
		check func(s udpStats) error
		tcp   func(rtts []float64) error // optional
	}{
		{"delay 100ms", []cluster.Impairment{delay(100*time.Millisecond, 0)},
			func(s udpStats) error {
				if p50 := quantile(s.RTT, .5); !within(p50, 100, 10) {
					return fmt.Errorf("median %.1fms, want 100ms ±10%%", p50)
				}
				if spread := quantile(s.RTT, .9) - quantile(s.RTT, .1); spread > 10 {
					return fmt.Errorf("p90-p10 %.1fms without jitter", spread)
				}
				return nil
			},
			func(rtts []float64) error {
				if p50 := quantile(rtts, .5); p50 < 90 || p50 > 150 {
					return fmt.Errorf("TCP median %.1fms, want about 100ms", p50)
				}
				return nil
			}},
		{"delay 100ms jitter 20ms", []cluster.Impairment{delay(100*time.Millisecond, 20*time.Millisecond)},
			func(s udpStats) error {
				if p50 := quantile(s.RTT, .5); !within(p50, 100, 12) {
					return fmt.Errorf("median %.1fms, want about 100ms", p50)
				}
				// Normal jitter of σ 20ms: p90-p10 is about 51ms.
				if spread := quantile(s.RTT, .9) - quantile(s.RTT, .1); spread < 25 || spread > 80 {
					return fmt.Errorf("p90-p10 %.1fms, want about 51ms", spread)
				}
				return nil
			}, nil},
		{"loss 20%", []cluster.Impairment{pct(cluster.KindLoss, 20)},
			func(s udpStats) error {
				return stattest.Rate("lost", s.lost(), .20, s.Sent, cluster.Correlation)
			}, nil},
		{"loss 80%", []cluster.Impairment{pct(cluster.KindLoss, 80)},
			func(s udpStats) error {
				return stattest.Rate("lost", s.lost(), .80, s.Sent, cluster.Correlation)
			}, nil},
		{"duplicate 30%", []cluster.Impairment{pct(cluster.KindDuplicate, 30)},
			func(s udpStats) error {
				if err := stattest.Rate("duplicated", s.duplicated(), .30, s.Sent, 0); err != nil {
					return err
				}
				if s.Received != s.Sent {
					return fmt.Errorf("lost packets: %v", s)
				}
				return nil
			}, nil},
		{"delay 50ms reorder 25%", []cluster.Impairment{delay(50*time.Millisecond, 0), pct(cluster.KindReorder, 25)},
			func(s udpStats) error {
				// The chosen quarter goes at once, overtaking the rest.
				if err := stattest.Rate("sent at once", s.below(20), .25, s.Received, cluster.Correlation); err != nil {
					return err
				}
				// With a quarter fast, the median is one of the others.
				if p50 := quantile(s.RTT, .5); !within(p50, 50, 8) {
					return fmt.Errorf("the others took %.1fms, want 50ms", p50)
				}
				if s.Reordered == 0 {
					return fmt.Errorf("nothing arrived out of order")
				}
				return nil
			}, nil},
		{"delay 50ms loss 20%", []cluster.Impairment{delay(50*time.Millisecond, 0), pct(cluster.KindLoss, 20)},
			func(s udpStats) error {
				if p50 := quantile(s.RTT, .5); !within(p50, 50, 6) {
					return fmt.Errorf("median %.1fms, want 50ms", p50)
				}
				return stattest.Rate("lost", s.lost(), .20, s.Sent, cluster.Correlation)
			}, nil},
		{"delay 50ms duplicate 20%", []cluster.Impairment{delay(50*time.Millisecond, 0), pct(cluster.KindDuplicate, 20)},
			func(s udpStats) error {
				if p50 := quantile(s.RTT, .5); !within(p50, 50, 6) {
					return fmt.Errorf("median %.1fms, want 50ms", p50)
				}
				return stattest.Rate("duplicated", s.duplicated(), .20, s.Sent, 0)
			}, nil},
		{"delay 100ms jitter 10ms reorder 25%", []cluster.Impairment{delay(100*time.Millisecond, 10*time.Millisecond), pct(cluster.KindReorder, 25)},
			func(s udpStats) error {
				if err := stattest.Rate("sent at once", s.below(30), .25, s.Received, cluster.Correlation); err != nil {
					return err
				}
				if p50 := quantile(s.RTT, .5); p50 < 85 || p50 > 120 {
					return fmt.Errorf("the others took %.1fms, want about 100ms", p50)
				}
				return nil
			}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, c.Impair(ctx, []string{"n1"}, tc.imps))
			s := probeUDP(t, c, "n2", "n1", packets)
			t.Logf("impaired: %v", s)
			if err := tc.check(s); err != nil {
				t.Error(err)
			}
			if tc.tcp != nil {
				rtts := probeTCP(t, c, "n2", "n1", 20)
				t.Logf("TCP rtt p50 %.1fms", quantile(rtts, .5))
				if err := tc.tcp(rtts); err != nil {
					t.Error(err)
				}
			}
			// n3 is not selected: its traffic is untouched.
			if ctl := probeUDP(t, c, "n2", "n3", 100); ctl.Received != 100 || ctl.Duplicates > 0 || quantile(ctl.RTT, .5) > undelayedMS {
				t.Errorf("unselected n3 is affected: %v", ctl)
			}

			must(t, c.Repair(ctx, []string{"n1"}))
			checkShaperReport(t, events, s, strings.HasPrefix(tc.name, "loss"))
			after := probeUDP(t, c, "n2", "n1", 100)
			if after.Received != 100 || after.Duplicates > 0 || quantile(after.RTT, .5) > undelayedMS {
				t.Errorf("after repair: %v, want the baseline back", after)
			}
		})
	}

	t.Run("a restarted node comes back impaired", func(t *testing.T) {
		must(t, c.Impair(ctx, []string{"n1"}, []cluster.Impairment{delay(100*time.Millisecond, 0)}))
		must(t, c.Kill(ctx, "n1"))
		must(t, c.Start(ctx, "n1"))
		waitHealthy(t, c, "n1")
		if s := probeUDP(t, c, "n2", "n1", 100); !within(quantile(s.RTT, .5), 100, 10) {
			t.Errorf("after restart: %v, want the 100ms delay", s)
		}
		must(t, c.Repair(ctx, []string{"n1"}))
	})

	t.Run("impairments and partitions combine", func(t *testing.T) {
		must(t, c.Impair(ctx, []string{"n1"}, []cluster.Impairment{delay(100*time.Millisecond, 0)}))
		must(t, c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3"}}))
		if s := probeUDP(t, c, "n2", "n1", 100); !within(quantile(s.RTT, .5), 100, 10) {
			t.Errorf("n1 inside the partition: %v, want the 100ms delay", s)
		}
		if s := probeUDP(t, c, "n3", "n1", 50); s.Received != 0 {
			t.Errorf("n3 across the partition reached n1: %v", s)
		}
		must(t, c.Heal(ctx))
		// The heal leaves the impairment alone: what crossed the
		// partition now arrives, delayed like the rest of n1's traffic.
		if s := probeUDP(t, c, "n3", "n1", 100); s.Received != 100 || !within(quantile(s.RTT, .5), 100, 10) {
			t.Errorf("n3 → n1 after the heal, still impaired: %v, want every packet with the 100ms delay", s)
		}
		must(t, c.Repair(ctx, []string{"n1"}))
		if s := probeUDP(t, c, "n3", "n1", 100); s.Received != 100 || quantile(s.RTT, .5) > undelayedMS {
			t.Errorf("after heal and repair: %v", s)
		}
	})

	t.Run("a repair reports the shaper's figures once", func(t *testing.T) {
		seen := len(events.Events())
		must(t, c.Repair(ctx, []string{"n1", "n2"}))
		for _, e := range events.Events()[seen:] {
			if e.Kind == cluster.EventShaper {
				t.Errorf("repairing repaired or never impaired nodes wrote %s: %s", e.Node, e.Text())
			}
		}
	})

	found := false
	for _, e := range events.Events() {
		found = found || e.Kind == cluster.EventImpair && (e.Via == "nftables+nfqueue" || e.Via == "netem")
	}
	if !found {
		t.Errorf("no IMPAIRED event naming the path in %v", events.Events())
	}
}

// checkShaperReport checks the REPAIR line that the repair of n1 wrote,
// where the shaper impaired it (netem reports nothing): every echo reply
// n1 sent passed the shaper, and, for loss alone, what it dropped is what
// n2 missed.
func checkShaperReport(t *testing.T, events *cluster.EventLog, s udpStats, lossOnly bool) {
	t.Helper()
	impaired, report := "", ""
	for _, e := range events.Events() {
		switch {
		case e.Node != "n1":
		case e.Kind == cluster.EventImpair:
			impaired, report = e.Text(), ""
		case e.Kind == cluster.EventShaper:
			report = e.Text()
		}
	}
	if !strings.HasSuffix(impaired, "(nftables+nfqueue)") {
		if report != "" {
			t.Errorf("%q reported %q", impaired, report)
		}
		return
	}
	t.Log(report)
	var seen, dropped, delayed, duplicated int
	if _, err := fmt.Sscanf(report, "REPAIR: shaper saw %d packets: %d dropped, %d delayed, %d duplicated", &seen, &dropped, &delayed, &duplicated); err != nil {
		t.Fatalf("after %q the repair wrote %q, want \"REPAIR: shaper saw N packets: …\" (%v)", impaired, report, err)
	}
	if seen < s.Received || duplicated < s.Duplicates {
		t.Errorf("%q: the shaper saw %d packets and duplicated %d, but n2 received %d replies and %d copies", report, seen, duplicated, s.Received, s.Duplicates)
	}
	if lost := s.Sent - s.Received; lossOnly && (dropped < lost || dropped > lost+20) {
		t.Errorf("%q: n2 missed %d replies", report, lost)
	}
}

// BenchmarkImpairRepair measures impairing a node (delay 100ms, loss 10%)
// and repairing it back to baseline (goal: repair under 1s).
func BenchmarkImpairRepair(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 1})
	must(b, err)
	defer c.Close(ctx)
	imps := []cluster.Impairment{delay(100*time.Millisecond, 0), pct(cluster.KindLoss, 10)}
	var impair, repair time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		must(b, c.Impair(ctx, []string{"n1"}, imps))
		impair += time.Since(start)
		start = time.Now()
		must(b, c.Repair(ctx, []string{"n1"}))
		repair += time.Since(start)
	}
	b.ReportMetric(float64(impair.Milliseconds())/float64(b.N), "impair-ms")
	b.ReportMetric(float64(repair.Milliseconds())/float64(b.N), "repair-ms")
}
