package pglocal

import "testing"

// DataDirOf exposes the cluster's directory to the tests.
func DataDirOf(t *testing.T, c *Cluster) string {
	t.Helper()
	return c.dir
}
