//go:build soak

package convergence

// soakTag is true under -tags soak: TestSoak runs.
const soakTag = true
