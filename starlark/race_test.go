//go:build race

package starlark_test

// raceEnabled: the race detector about doubles the size of every Go stack
// frame, so a value nested as deep as the default step limit allows takes
// the runner's stack past the watch on goroutine stacks; hostile scripts
// say with "# race:" what to expect then.
const raceEnabled = true
