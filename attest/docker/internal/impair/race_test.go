//go:build linux && race

package impair

// raceEnabled: the race detector slows every goroutine several times, the
// shaper's and the measuring ones alike, so timing tolerances widen
// twentyfold (see slack); rates, orderings and cleanup are checked as
// strictly as ever. Timing is measured without it.
const raceEnabled = true
