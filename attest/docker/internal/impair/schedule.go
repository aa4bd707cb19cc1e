//go:build linux

package impair

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Params are the impairments the shaper applies to each packet.
type Params struct {
	// Delay is added to every packet; Jitter is the standard deviation of
	// a normally distributed variation around it, correlated from one
	// packet to the next by Correlation.
	Delay, Jitter time.Duration
	// Loss, Duplicate and Reorder are percentages (0–100). Loss and
	// Reorder are correlated by Correlation; Duplicate is not.
	Loss, Duplicate, Reorder float64
	// Correlation is the lag-one correlation of jitter, loss and reorder
	// (cluster.Correlation unless a test says otherwise).
	Correlation float64
}

// ParamsOf collects validated impairments into Params with
// cluster.Correlation.
func ParamsOf(imps cluster.Impairments) (Params, error) {
	if err := imps.Validate(); err != nil {
		return Params{}, err
	}
	p := Params{Correlation: cluster.Correlation}
	for _, i := range imps {
		switch i.Kind {
		case cluster.KindDelay:
			p.Delay, p.Jitter = i.Delay, i.Jitter
		case cluster.KindLoss:
			p.Loss = i.Percent
		case cluster.KindDuplicate:
			p.Duplicate = i.Percent
		case cluster.KindReorder:
			p.Reorder = i.Percent
		}
	}
	return p, nil
}

// Shapes reports whether p needs a shaper: anything but loss.
func (p Params) Shapes() bool {
	return p.Delay > 0 || p.Jitter > 0 || p.Duplicate > 0 || p.Reorder > 0
}

// String renders p in netem's words: "delay 50ms 10ms 25% loss 10%".
func (p Params) String() string {
	s := ""
	if p.Delay > 0 || p.Jitter > 0 {
		s += fmt.Sprintf(" delay %v", p.Delay)
		if p.Jitter > 0 {
			s += fmt.Sprintf(" %v %g%%", p.Jitter, p.Correlation*100)
		}
	}
	if p.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", p.Loss)
	}
	if p.Duplicate > 0 {
		s += fmt.Sprintf(" duplicate %g%%", p.Duplicate)
	}
	if p.Reorder > 0 {
		s += fmt.Sprintf(" reorder %g%%", p.Reorder)
	}
	if s == "" {
		return "none"
	}
	return s[1:]
}

// Decision is what happens to one packet.
type Decision struct {
	// Drop discards the packet; nothing else applies.
	Drop bool
	// At is when the packet goes out.
	At time.Time
	// Duplicate sends a second copy at DuplicateAt. As netem's copy goes
	// through the qdisc a second time, the copy draws its own loss,
	// reorder and delay: with jitter the two rarely leave together, and
	// a copy that its own draw loses is not sent (Duplicate is then
	// false and CopyLost true).
	Duplicate   bool
	DuplicateAt time.Time
	// CopyLost says that a copy was made and then lost.
	CopyLost bool
	// Reordered means the packet skipped the delay; CopyReordered, that
	// its copy did.
	Reordered, CopyReordered bool
}

// Scheduler decides, packet by packet, what happens to each. It is pure:
// the caller gives it the time each packet arrived, and it draws from the
// random source it was given. It is not safe for concurrent use.
//
// The draws follow netem's order: duplication first, then loss (a packet
// chosen for both goes once), then reorder, then the delay; a copy then
// draws loss, reorder and delay again. Correlated draws (loss, reorder,
// jitter) carry their state from one packet, or copy, to the next.
type Scheduler struct {
	p   Params
	rng *rand.Rand
	// State of the correlated draws: the last standard normal of the
	// jitter, and whether the last packet was lost or reordered.
	// The first draw of each has no predecessor to correlate with.
	z                                  float64
	lost, reordered                    bool
	zPrimed, lossPrimed, reorderPrimed bool
}

// NewScheduler returns a scheduler for p drawing from rng.
func NewScheduler(p Params, rng *rand.Rand) *Scheduler {
	return &Scheduler{p: p, rng: rng}
}

// Params returns what the scheduler applies.
func (s *Scheduler) Params() Params { return s.p }

// Decide returns what happens to a packet that arrived at now.
func (s *Scheduler) Decide(now time.Time) Decision {
	p := s.p
	dup := p.Duplicate > 0 && s.rng.Float64()*100 < p.Duplicate
	if s.lose() {
		if !dup {
			return Decision{Drop: true, At: now}
		}
		// Of the two copies one is lost: the packet goes once.
		dup = false
	}
	d := Decision{}
	d.At, d.Reordered = s.schedule(now)
	if dup {
		if s.lose() {
			d.CopyLost = true
		} else {
			d.Duplicate = true
			d.DuplicateAt, d.CopyReordered = s.schedule(now)
		}
	}
	return d
}

// lose draws whether the next packet or copy is lost.
func (s *Scheduler) lose() bool {
	if s.p.Loss <= 0 {
		return false
	}
	s.lost = s.correlatedBernoulli(s.p.Loss/100, s.lost, &s.lossPrimed)
	return s.lost
}

// schedule draws when a packet that arrived at now goes out, and whether
// it is reordered: sent at once, past the delayed ones.
func (s *Scheduler) schedule(now time.Time) (time.Time, bool) {
	p := s.p
	if p.Reorder > 0 {
		s.reordered = s.correlatedBernoulli(p.Reorder/100, s.reordered, &s.reorderPrimed)
		if s.reordered {
			return now, true
		}
	}
	delay := p.Delay
	if p.Jitter > 0 {
		delay += time.Duration(float64(p.Jitter) * s.normal())
	}
	if delay > 0 {
		return now.Add(delay), false
	}
	return now, false
}

// normal draws the next standard normal of a first-order autoregressive
// sequence: each draw keeps Correlation of the previous one, and the sum
// stays a standard normal.
func (s *Scheduler) normal() float64 {
	e := s.rng.NormFloat64()
	if !s.zPrimed {
		s.zPrimed = true
		s.z = e
		return e
	}
	r := s.p.Correlation
	s.z = r*s.z + math.Sqrt(1-r*r)*e
	return s.z
}

// correlatedBernoulli draws the next event of a two-state Markov chain
// whose stationary probability is prob and whose lag-one correlation is
// Correlation: after an event the next happens with prob+ρ(1−prob),
// after none with prob(1−ρ).
func (s *Scheduler) correlatedBernoulli(prob float64, last bool, primed *bool) bool {
	r := s.p.Correlation
	q := prob
	if *primed {
		if last {
			q = prob + r*(1-prob)
		} else {
			q = prob * (1 - r)
		}
	}
	*primed = true
	return s.rng.Float64() < q
}
