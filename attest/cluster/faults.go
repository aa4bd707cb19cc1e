package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// ErrInvalidFault is returned for a fault whose arguments make no sense:
// a node in two groups of a partition, an empty group, a cut of a node
// from itself only, an impairment out of range. Nothing has changed when
// a runtime returns it.
type ErrInvalidFault struct {
	Op  string // "partition", "cut", "impair"
	Err error
}

func (e *ErrInvalidFault) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *ErrInvalidFault) Unwrap() error { return e.Err }

// ErrNotRunning is returned for an operation that needs a running node,
// such as pausing one that is stopped.
type ErrNotRunning struct{ Op, Name string }

func (e *ErrNotRunning) Error() string {
	return fmt.Sprintf("%s %s: the node is not running; start it first", e.Op, e.Name)
}

func invalid(op, format string, args ...any) error {
	return &ErrInvalidFault{Op: op, Err: fmt.Errorf(format, args...)}
}

// ValidateNodes returns an *ErrUnknownNode for the first name that is not
// one of nodes.
func ValidateNodes(nodes, names []string) error {
	for _, name := range names {
		if !slices.Contains(nodes, name) {
			return &ErrUnknownNode{Name: name}
		}
	}
	return nil
}

// ValidatePartition checks the groups of a partition of nodes: every name
// is a node, no group is empty and no node is in two groups. No group at
// all is a partition that cuts nothing.
func ValidatePartition(nodes []string, groups [][]string) error {
	seen := map[string]bool{}
	for g, names := range groups {
		if err := ValidateNodes(nodes, names); err != nil {
			return err
		}
		if len(names) == 0 {
			return invalid("partition", "group %d is empty", g+1)
		}
		for _, name := range names {
			if seen[name] {
				return invalid("partition", "%s is in more than one group", name)
			}
			seen[name] = true
		}
	}
	return nil
}

// ValidateCut checks a cut from the nodes of src to those of dst: every
// name is a node, each side names one at least, and the cut separates two
// different nodes. A node named on both sides is not cut from itself, but
// a cut that would only cut nodes from themselves is a mistake.
func ValidateCut(nodes, src, dst []string) error {
	if err := ValidateNodes(nodes, append(slices.Clone(src), dst...)); err != nil {
		return err
	}
	if len(src) == 0 {
		return invalid("cut", "no node on the sending side")
	}
	if len(dst) == 0 {
		return invalid("cut", "no node on the receiving side")
	}
	for _, s := range src {
		for _, d := range dst {
			if s != d {
				return nil
			}
		}
	}
	return invalid("cut", "%s cannot be cut from itself", strings.Join(src, ", "))
}

// ValidateImpair checks impairments for the outgoing traffic of names,
// towards the nodes of towards if any: every name is a node, one node
// at least is named, and the impairments are given and fit together.
func ValidateImpair(nodes, names, towards []string, imps []Impairment) error {
	if err := ValidateNodes(nodes, append(slices.Clone(names), towards...)); err != nil {
		return err
	}
	if len(names) == 0 {
		return invalid("impair", "no node given")
	}
	if len(imps) == 0 {
		return invalid("impair", "no impairment given: use a delay, loss, duplicate or reorder")
	}
	if err := Impairments(imps).Validate(); err != nil {
		return &ErrInvalidFault{Op: "impair", Err: err}
	}
	return nil
}

// ValidatePause checks that a node can be paused: it must be running.
func ValidatePause(name string, running bool) error {
	if !running {
		return &ErrNotRunning{Op: "pause", Name: name}
	}
	return nil
}

// Network says whose packets each node drops: the partition in force and
// the cuts added to it. A Network is a value: the methods that change it
// return a new one, so a runtime can work out a change, program it, and
// only then make it the state in force.
type Network struct {
	nodes []string
	group map[string]int     // node → its group; nodes in no group are absent
	cuts  map[[2]string]bool // {src, dst}: what src sends to dst is dropped
}

// Partition returns the network with the groups as its partition, in
// place of the previous one; cuts stay.
func (n Network) Partition(groups [][]string) (Network, error) {
	if err := ValidatePartition(n.nodes, groups); err != nil {
		return Network{}, err
	}
	next := Network{nodes: n.nodes, group: map[string]int{}, cuts: n.cuts}
	for g, names := range groups {
		for _, name := range names {
			next.group[name] = g
		}
	}
	return next, nil
}

// Cut returns the network with what the nodes of src send to the nodes of
// dst dropped, and the pairs it newly cuts: source → destinations, in the
// order given.
func (n Network) Cut(src, dst []string) (Network, map[string][]string, error) {
	if err := ValidateCut(n.nodes, src, dst); err != nil {
		return Network{}, nil, err
	}
	next := Network{nodes: n.nodes, group: n.group, cuts: maps.Clone(n.cuts)}
	if next.cuts == nil {
		next.cuts = map[[2]string]bool{}
	}
	added := map[string][]string{}
	for _, s := range src {
		for _, d := range dst {
			if s != d && !next.cuts[[2]string{s, d}] {
				next.cuts[[2]string{s, d}] = true
				added[s] = append(added[s], d)
			}
		}
	}
	return next, added, nil
}

// Healed returns the network without partition or cuts.
func (n Network) Healed() Network { return Network{nodes: n.nodes} }

// Separated reports whether the partition separates nodes a and b.
func (n Network) Separated(a, b string) bool {
	ga, ina := n.group[a]
	gb, inb := n.group[b]
	return ina && inb && ga != gb
}

// IsCut reports whether a cut drops what src sends to dst.
func (n Network) IsCut(src, dst string) bool { return n.cuts[[2]string{src, dst}] }

// Delivers reports whether what src sends to dst arrives: neither the
// partition nor a cut drops it.
func (n Network) Delivers(src, dst string) bool {
	return !n.Separated(src, dst) && !n.IsCut(src, dst)
}

// PartitionedFrom returns the nodes the partition separates name from, in
// node order.
func (n Network) PartitionedFrom(name string) []string {
	var out []string
	for _, p := range n.nodes {
		if n.Separated(name, p) {
			out = append(out, p)
		}
	}
	return out
}

// Drops returns the nodes whose packets dst drops, in node order.
func (n Network) Drops(dst string) []string {
	var out []string
	for _, p := range n.nodes {
		if p != dst && !n.Delivers(p, dst) {
			out = append(out, p)
		}
	}
	return out
}

// FaultState is the fault state of one cluster, kept the same way by
// every runtime: the network (partition and cuts), which nodes are paused
// and which impaired. Each runtime validates faults and records them here,
// and keeps only its own mechanism. It is safe for concurrent use; a
// runtime that works out a network change and then programs it serialises
// those changes itself.
type FaultState struct {
	nodes []string

	mu       sync.Mutex // guards the fields below
	network  Network
	paused   map[string]bool
	impaired map[string]impairment
}

type impairment struct {
	imps    Impairments
	towards []string
}

// NewFaultState returns the state of a cluster of the named nodes with no
// fault.
func NewFaultState(nodes []string) *FaultState {
	nodes = slices.Clone(nodes)
	return &FaultState{
		nodes:    nodes,
		network:  Network{nodes: nodes},
		paused:   map[string]bool{},
		impaired: map[string]impairment{},
	}
}

// Nodes returns the names of the cluster's nodes, in order.
func (s *FaultState) Nodes() []string { return slices.Clone(s.nodes) }

// Network returns the network in force.
func (s *FaultState) Network() Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.network
}

// SetNetwork puts n in force.
func (s *FaultState) SetNetwork(n Network) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.network = n
}

// Pause records that the node is paused and reports whether it was not.
func (s *FaultState) Pause(name string) bool { return s.setPaused(name, true) }

// Resume records that the node is not paused and reports whether it was.
func (s *FaultState) Resume(name string) bool { return s.setPaused(name, false) }

func (s *FaultState) setPaused(name string, paused bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused[name] == paused {
		return false
	}
	if paused {
		s.paused[name] = true
	} else {
		delete(s.paused, name)
	}
	return true
}

// Paused reports whether the node is paused.
func (s *FaultState) Paused(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused[name]
}

// Impair records the impairments of the named nodes' outgoing traffic,
// limited to the nodes of towards if any, in place of what they had.
func (s *FaultState) Impair(names, towards []string, imps []Impairment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		s.impaired[name] = impairment{imps: slices.Clone(imps), towards: slices.Clone(towards)}
	}
}

// Repair records that the named nodes have no impairments.
func (s *FaultState) Repair(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		delete(s.impaired, name)
	}
}

// Impairments returns the impairments in force on the node.
func (s *FaultState) Impairments(name string) Impairments {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.impaired[name].imps)
}

// Towards returns the nodes the node's impairments are limited to; empty
// when they apply to all its traffic.
func (s *FaultState) Towards(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.impaired[name].towards)
}

// Impaired returns the nodes that have impairments, in node order.
func (s *FaultState) Impaired() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range s.nodes {
		if _, ok := s.impaired[name]; ok {
			out = append(out, name)
		}
	}
	return out
}
