//go:build race

package jsonlog

// raceEnabled: the race detector slows encoding tenfold, so timing limits
// are not checked.
const raceEnabled = true
