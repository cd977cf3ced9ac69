//go:build !soak

package convergence

// soakTag is false without -tags soak: TestSoak runs only with THREADLINE_SOAK=1.
const soakTag = false
