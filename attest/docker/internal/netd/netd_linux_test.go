package netd

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// countingImpairer is an Impairer that counts like the shaper: its
// figures survive Clear.
type countingImpairer struct {
	cleared bool
	stats   *ShaperStats
}

func (c *countingImpairer) Apply(context.Context, cluster.Impairments, []netip.Addr) (string, error) {
	return "nftables+nfqueue", nil
}
func (c *countingImpairer) Clear() error              { c.cleared = true; return nil }
func (c *countingImpairer) ShaperStats() *ShaperStats { return c.stats }

// plainImpairer counts nothing, as netem's Impairer would not.
type plainImpairer struct{}

func (plainImpairer) Apply(context.Context, cluster.Impairments, []netip.Addr) (string, error) {
	return "netem", nil
}
func (plainImpairer) Clear() error { return nil }

func TestRepairReportsShaperStats(t *testing.T) {
	want := &ShaperStats{Path: "nftables+nfqueue", Seen: 1234, Dropped: 240, Delayed: 994, Duplicated: 12}
	im := &countingImpairer{stats: want}
	d := &daemon{impairer: im}
	ctx := context.Background()
	resp := d.do(ctx, Request{Op: "repair"})
	if !im.cleared || resp.Error != "" || resp.Shaper == nil || *resp.Shaper != *want {
		t.Fatalf("repair: %+v (cleared %v), want the impairer's figures after Clear", resp, im.cleared)
	}
	// The reply crosses docker exec as JSON.
	b, _ := json.Marshal(resp)
	var back Response
	if err := json.Unmarshal(b, &back); err != nil || back.Shaper == nil || *back.Shaper != *want {
		t.Errorf("JSON round trip of %s: %+v, %v", b, back.Shaper, err)
	}
	if resp := d.do(ctx, Request{Op: "stats"}); resp.Shaper == nil || *resp.Shaper != *want {
		t.Errorf("stats: %+v", resp)
	}
	// An Impairer that counts nothing gives no figures, and no error.
	d = &daemon{impairer: plainImpairer{}}
	if resp := d.do(ctx, Request{Op: "repair"}); resp.Shaper != nil || resp.Error != "" {
		t.Errorf("repair without figures: %+v", resp)
	}
	if b, _ := json.Marshal(d.do(ctx, Request{Op: "stats"})); string(b) != "{}" {
		t.Errorf("stats without figures: %s, want {}", b)
	}
}

func TestShaperStatsString(t *testing.T) {
	tests := []struct {
		name string
		s    ShaperStats
		want string
	}{
		{"shaper", ShaperStats{Path: "nftables+nfqueue", Seen: 1234, Dropped: 240, Delayed: 990, Duplicated: 12, Reordered: 3, Bypassed: 1},
			"shaper saw 1234 packets: 240 dropped, 990 delayed, 12 duplicated, 3 reordered, 1 bypassed"},
		{"late and stopped", ShaperStats{Path: "nftables+nfqueue", Seen: 10, Delayed: 10, Late: 2, Error: "queue closed"},
			"shaper saw 10 packets: 0 dropped, 10 delayed, 0 duplicated, 0 reordered, 0 bypassed, 2 late; the shaper stopped: queue closed"},
		{"nftables loss", ShaperStats{Path: "nftables", Dropped: 31},
			"nftables dropped 31 packets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
