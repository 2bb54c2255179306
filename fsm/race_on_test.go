//go:build race

package fsm

// raceEnabled shortens the long randomized tests under the race detector.
const raceEnabled = true
