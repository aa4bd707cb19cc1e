package starlark

import (
	"runtime/metrics"
	"sync"
	"time"
)

// watchEvery is how often the watchdog samples the heap and the clock.
const watchEvery = 10 * time.Millisecond

// runawayGrace is how long a thread stopped by a limit may stay inside
// one builtin before Limits.Runaway is called, counted in the watchdog's
// samples.
const runawayGrace = 10 * time.Second

// runawayCeiling, times the memory limit, is a heap growth that calls
// Limits.Runaway at once: the step in flight when the limit stopped the
// script may still double a string, but nothing it may do needs that
// much.
const runawayCeiling = 6

// watch samples the heap, the goroutine stacks and the clock until the
// guard ends.
func (g *guard) watch(base, baseStacks uint64) {
	defer g.wg.Done()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	lim := g.sb.lim
	// stopping counts the watchdog's own samples since the limit was
	// reached, not the wall clock: a thread inside one long copy of
	// memory can hold up the whole process (the garbage collector waits
	// for it to reach a safe point), and a watchdog that wakes after such
	// a pause must not take the pause for time the thread had to stop.
	var stopping time.Duration
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			heap, stacks := memoryBytes()
			// Garbage of earlier tests may be in the first sample: the
			// base follows the heap down as it is collected.
			base = min(base, heap)
			over := lim.Memory > 0 && heap > base && heap-base > uint64(lim.Memory)
			// A builtin recursing through a value nested millions deep
			// (hashing a tuple of a tuple of …) grows a goroutine's stack
			// towards Go's limit, past which the process dies; no step
			// comes between to stop it.
			deep := stacks > baseStacks && stacks-baseStacks > stackCeiling
			switch {
			case deep:
				g.trip(lim.Exceeded(FlagDepth, "a value nested too deep for the runner's stack"))
			case over:
				g.trip(lim.Exceeded(FlagMemory, ""))
			case now.After(g.deadline) && g.stage:
				g.trip(lim.Exceeded(FlagStageTime, ""))
			case now.After(g.deadline):
				g.trip(lim.Exceeded(FlagTestTime, ""))
			}
			e := g.hit.Load()
			if e == nil {
				continue
			}
			stopping += watchEvery
			grown := heap - min(heap, base)
			ceiling := lim.Memory > 0 && grown > runawayCeiling*uint64(lim.Memory)
			if (deep || ceiling || stopping > runawayGrace) && lim.Runaway != nil {
				lim.Runaway(e)
				return
			}
		}
	}
}

// stackCeiling is the growth of the goroutine stacks that stops a
// sandboxed script, and calls Limits.Runaway at once: Go lets one
// goroutine's stack grow to 1 GB, and the growth that would pass half of
// that is the last.
const stackCeiling = 256 << 20

var memorySamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/stacks:bytes"},
}
var memoryMu sync.Mutex // guards memorySamples

// memoryBytes returns the bytes of heap objects, live or not yet
// collected, and of goroutine stacks.
func memoryBytes() (heap, stacks uint64) {
	memoryMu.Lock()
	defer memoryMu.Unlock()
	metrics.Read(memorySamples)
	for i, dst := range []*uint64{&heap, &stacks} {
		if v := memorySamples[i].Value; v.Kind() == metrics.KindUint64 {
			*dst = v.Uint64()
		}
	}
	return heap, stacks
}
