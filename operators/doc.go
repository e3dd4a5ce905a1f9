// Package operators implements the functions that alert rules call: window
// aggregates over metric samples, the NEWS2 early warning score, and the
// three-valued logic that rules use when data is missing.
//
// All functions are pure: they do no I/O and keep no state. A missing or
// unknown number is math.NaN(), and every function returns NaN rather than 0
// when it lacks the data to compute a result. Count is the one exception,
// because an empty window has a known count of 0.
package operators
