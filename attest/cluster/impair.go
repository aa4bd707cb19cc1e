package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ImpairmentKind says what an Impairment does to a node's outgoing packets.
type ImpairmentKind int

const (
	// KindDelay holds packets for Delay, plus normally distributed Jitter.
	KindDelay ImpairmentKind = iota + 1
	// KindLoss drops Percent of packets.
	KindLoss
	// KindDuplicate sends Percent of packets twice.
	KindDuplicate
	// KindReorder lets Percent of packets skip the delay of a KindDelay.
	KindReorder
)

// Correlation is the correlation used for jitter, loss and reorder, as
// fraction of the previous draw carried into the next one.
const Correlation = 0.25

// Impairment is one network impairment on a node's outgoing traffic.
type Impairment struct {
	Kind    ImpairmentKind
	Delay   time.Duration // KindDelay
	Jitter  time.Duration // KindDelay, optional
	Percent float64       // KindLoss, KindDuplicate, KindReorder: 0–100
}

// String renders the impairment the way event logs and failures show it:
// "delay 100ms ±20ms", "loss 10%".
func (i Impairment) String() string {
	switch i.Kind {
	case KindDelay:
		if i.Jitter > 0 {
			return fmt.Sprintf("delay %v ±%v", i.Delay, i.Jitter)
		}
		return fmt.Sprintf("delay %v", i.Delay)
	case KindLoss:
		return fmt.Sprintf("loss %g%%", i.Percent)
	case KindDuplicate:
		return fmt.Sprintf("duplicate %g%%", i.Percent)
	case KindReorder:
		return fmt.Sprintf("reorder %g%%", i.Percent)
	}
	return fmt.Sprintf("impairment(%d)", int(i.Kind))
}

// Validate reports an impairment whose values make no sense.
func (i Impairment) Validate() error {
	switch i.Kind {
	case KindDelay:
		if i.Delay < 0 || i.Jitter < 0 {
			return fmt.Errorf("%v: delay and jitter cannot be negative", i)
		}
	case KindLoss, KindDuplicate, KindReorder:
		if i.Percent < 0 || i.Percent > 100 {
			return fmt.Errorf("%v: percentage must be between 0 and 100", i)
		}
	default:
		return fmt.Errorf("unknown impairment kind %d", int(i.Kind))
	}
	return nil
}

// Impairments is a set of impairments applied together to one node.
type Impairments []Impairment

// String joins the impairments: "delay 50ms, loss 10%".
func (is Impairments) String() string {
	parts := make([]string, len(is))
	for k, i := range is {
		parts[k] = i.String()
	}
	return strings.Join(parts, ", ")
}

// Validate checks every impairment and that they fit together: a reorder
// needs a delay to reorder against, and each kind appears at most once.
func (is Impairments) Validate() error {
	seen := map[ImpairmentKind]bool{}
	for _, i := range is {
		if err := i.Validate(); err != nil {
			return err
		}
		if seen[i.Kind] {
			return fmt.Errorf("%v: given twice; combine impairments of different kinds", i)
		}
		seen[i.Kind] = true
	}
	if seen[KindReorder] && !seen[KindDelay] {
		return fmt.Errorf("reorder needs a delay to reorder against: add Delay(…) to the same impairment")
	}
	return nil
}

// ParseImpairments reads what Impairments.String renders:
// "delay 50ms ±10ms, loss 10%".
func ParseImpairments(s string) (Impairments, error) {
	var is Impairments
	for _, part := range strings.Split(s, ", ") {
		name, value, _ := strings.Cut(part, " ")
		var i Impairment
		var err error
		switch name {
		case "delay":
			delay, jitter, hasJitter := strings.Cut(value, " ±")
			i.Kind = KindDelay
			if i.Delay, err = time.ParseDuration(delay); err == nil && hasJitter {
				i.Jitter, err = time.ParseDuration(jitter)
			}
		case "loss", "duplicate", "reorder":
			i.Kind = map[string]ImpairmentKind{"loss": KindLoss, "duplicate": KindDuplicate, "reorder": KindReorder}[name]
			percent, ok := strings.CutSuffix(value, "%")
			if !ok {
				return nil, fmt.Errorf("impairment %q: no %% after the percentage", part)
			}
			i.Percent, err = strconv.ParseFloat(percent, 64)
		default:
			return nil, fmt.Errorf("impairment %q: not delay, loss, duplicate or reorder", part)
		}
		if err != nil {
			return nil, fmt.Errorf("impairment %q: %w", part, err)
		}
		is = append(is, i)
	}
	return is, nil
}
