package attest

import (
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Impairment is a network impairment on a node's outgoing traffic, applied
// with Do.Impair and removed with Do.Repair.
type Impairment = cluster.Impairment

// Delay holds every outgoing packet for d, plus normally distributed jitter
// (with 25% correlation) when one is given: Delay(100*time.Millisecond,
// 20*time.Millisecond).
func Delay(d time.Duration, jitter ...time.Duration) Impairment {
	imp := Impairment{Kind: cluster.KindDelay, Delay: d}
	if len(jitter) > 0 {
		imp.Jitter = jitter[0]
	}
	return imp
}

// Loss drops pct percent (0–100) of outgoing packets, with 25% correlation.
func Loss(pct float64) Impairment {
	return Impairment{Kind: cluster.KindLoss, Percent: pct}
}

// Duplicate sends pct percent (0–100) of outgoing packets twice.
func Duplicate(pct float64) Impairment {
	return Impairment{Kind: cluster.KindDuplicate, Percent: pct}
}

// Reorder lets pct percent (0–100) of outgoing packets skip the delay, so
// they overtake others; it must be combined with a Delay.
func Reorder(pct float64) Impairment {
	return Impairment{Kind: cluster.KindReorder, Percent: pct}
}
