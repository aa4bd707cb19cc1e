//go:build linux && !race

package impair

const raceEnabled = false
