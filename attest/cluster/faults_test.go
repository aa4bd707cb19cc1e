package cluster

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

var three = []string{"n1", "n2", "n3"}

func TestValidate(t *testing.T) {
	loss := func(pct float64) []Impairment { return []Impairment{{Kind: KindLoss, Percent: pct}} }
	tests := []struct {
		name string
		err  error
		want string // "" for no error; "unknown" for an *ErrUnknownNode; else the *ErrInvalidFault's text
	}{
		{"partition", ValidatePartition(three, [][]string{{"n1"}, {"n2", "n3"}}), ""},
		{"partition in one group", ValidatePartition(three, [][]string{{"n1", "n2"}}), ""},
		{"partition in no group", ValidatePartition(three, nil), ""},
		{"partition with n9", ValidatePartition(three, [][]string{{"n1"}, {"n9"}}), "unknown"},
		{"partition twice", ValidatePartition(three, [][]string{{"n1"}, {"n2", "n1"}}), "partition: n1 is in more than one group"},
		{"partition empty", ValidatePartition(three, [][]string{{"n1"}, {}}), "partition: group 2 is empty"},
		{"cut", ValidateCut(three, []string{"n1"}, []string{"n2", "n3"}), ""},
		{"cut overlapping", ValidateCut(three, three, []string{"n1"}), ""},
		{"cut to n9", ValidateCut(three, []string{"n1"}, []string{"n9"}), "unknown"},
		{"cut self", ValidateCut(three, []string{"n1"}, []string{"n1"}), "cut: n1 cannot be cut from itself"},
		{"cut from nothing", ValidateCut(three, nil, []string{"n1"}), "cut: no node on the sending side"},
		{"cut to nothing", ValidateCut(three, []string{"n1"}, nil), "cut: no node on the receiving side"},
		{"impair", ValidateImpair(three, []string{"n1"}, []string{"n2"}, loss(10)), ""},
		{"impair towards n9", ValidateImpair(three, []string{"n1"}, []string{"n9"}, loss(10)), "unknown"},
		{"impair nobody", ValidateImpair(three, nil, nil, loss(10)), "impair: no node given"},
		{"impair with nothing", ValidateImpair(three, []string{"n1"}, nil, nil), "impair: no impairment given: use a delay, loss, duplicate or reorder"},
		{"impair too much", ValidateImpair(three, []string{"n1"}, nil, loss(150)), "impair: loss 150%: percentage must be between 0 and 100"},
		{"pause", ValidatePause("n1", true), ""},
		{"nodes", ValidateNodes(three, []string{"n3", "n1"}), ""},
		{"nodes with n0", ValidateNodes(three, []string{"n1", "n0"}), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var unknown *ErrUnknownNode
			var bad *ErrInvalidFault
			switch {
			case tc.want == "":
				if tc.err != nil {
					t.Errorf("error %v, want none", tc.err)
				}
			case tc.want == "unknown":
				if !errors.As(tc.err, &unknown) {
					t.Errorf("error %v, want an *ErrUnknownNode", tc.err)
				}
			case !errors.As(tc.err, &bad) || tc.err.Error() != tc.want:
				t.Errorf("error %v, want the *ErrInvalidFault %q", tc.err, tc.want)
			}
		})
	}
	var stopped *ErrNotRunning
	if err := ValidatePause("n2", false); !errors.As(err, &stopped) || err.Error() != "pause n2: the node is not running; start it first" {
		t.Errorf("pause of a stopped node: %v", err)
	}
}

func TestNetwork(t *testing.T) {
	s := NewFaultState(three)
	healed := s.Network()
	parted, err := healed.Partition([][]string{{"n1"}, {"n2"}})
	if err != nil {
		t.Fatal(err)
	}
	cut, added, err := parted.Cut([]string{"n3", "n3"}, []string{"n2", "n3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := added["n3"]; !slices.Equal(got, []string{"n2"}) {
		t.Errorf("the cut added %q for n3, want n2 once", got)
	}
	// A network is a value: working out a change leaves the one in force.
	if !healed.Delivers("n1", "n2") || parted.IsCut("n3", "n2") || len(s.Network().Drops("n2")) > 0 {
		t.Error("deriving a network changed the one it came from")
	}
	tests := []struct {
		dst  string
		want []string
	}{
		{"n1", []string{"n2"}},
		{"n2", []string{"n1", "n3"}},
		{"n3", nil},
	}
	for _, tc := range tests {
		if got := cut.Drops(tc.dst); !slices.Equal(got, tc.want) {
			t.Errorf("%s drops %q, want %q", tc.dst, got, tc.want)
		}
	}
	if got := cut.PartitionedFrom("n2"); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("n2 partitioned from %q", got)
	}
	// A new partition keeps the cuts; a heal removes both.
	again, err := cut.Partition([][]string{{"n1", "n2"}, {"n3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !again.IsCut("n3", "n2") || !again.Separated("n1", "n3") || again.Separated("n1", "n2") {
		t.Errorf("after a second partition: cut %v, n1|n3 %v, n1|n2 %v", again.IsCut("n3", "n2"), again.Separated("n1", "n3"), again.Separated("n1", "n2"))
	}
	s.SetNetwork(again)
	if d := s.Network().Healed().Drops("n2"); len(d) > 0 {
		t.Errorf("healed, n2 still drops %q", d)
	}
	if _, _, err := cut.Cut([]string{"n1"}, []string{"n9"}); err == nil {
		t.Error("a cut to n9 was accepted")
	}
}

func TestFaultStatePauseAndImpair(t *testing.T) {
	s := NewFaultState(three)
	if !s.Pause("n1") || s.Pause("n1") || !s.Paused("n1") {
		t.Error("a first pause should change the state and a second not")
	}
	if !s.Resume("n1") || s.Resume("n1") || s.Paused("n1") {
		t.Error("a first resume should change the state and a second not")
	}
	delay := []Impairment{{Kind: KindDelay, Delay: 5}}
	s.Impair([]string{"n3", "n1"}, []string{"n2"}, delay)
	delay[0].Delay = 7 // the state keeps its own copy
	if got := s.Impaired(); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Errorf("impaired %q, want n1 and n3 in node order", got)
	}
	if got := s.Impairments("n3"); len(got) != 1 || got[0].Delay != 5 || !slices.Equal(s.Towards("n3"), []string{"n2"}) {
		t.Errorf("n3: %v towards %q", got, s.Towards("n3"))
	}
	s.Impair([]string{"n3"}, nil, delay)
	if len(s.Towards("n3")) != 0 {
		t.Error("a plain impairment kept the previous one's destinations")
	}
	s.Repair([]string{"n1", "n3"})
	if len(s.Impaired()) != 0 {
		t.Errorf("still impaired after repair: %q", s.Impaired())
	}
}

// TestFaultStateConcurrent is for the race detector.
func TestFaultStateConcurrent(t *testing.T) {
	s := NewFaultState(three)
	var wg sync.WaitGroup
	for _, name := range three {
		wg.Go(func() {
			for range 100 {
				s.Pause(name)
				s.Impair([]string{name}, nil, []Impairment{{Kind: KindLoss, Percent: 1}})
				_ = s.Network().Drops(name)
				s.Resume(name)
				s.Repair([]string{name})
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			n, _ := s.Network().Partition([][]string{{"n1"}, {"n2"}})
			s.SetNetwork(n)
		}
	})
	wg.Wait()
	if got := strings.Join(s.Network().PartitionedFrom("n1"), ","); got != "n2" {
		t.Errorf("n1 partitioned from %q", got)
	}
}
