package vytalwatch_test

import (
	"os/exec"
	"strings"
	"testing"
)

// corePackages are the packages that must not depend on a connector:
// connectors adapt external systems to interfaces these packages define.
var corePackages = []string{".", "./engine/...", "./rules/...", "./operators/...", "./state/...", "./billing/...", "./api/..."}

func TestCorePackagesImportNoConnector(t *testing.T) {
	args := append([]string{"list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`}, corePackages...)
	out, err := exec.Command("go", args...).Output()
	if exitErr, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list failed: %v\n%s", err, exitErr.Stderr)
	}
	if err != nil {
		t.Fatalf("go list failed: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		if strings.HasPrefix(path, "github.com/vytalwatch/vytalwatch/connectors/") {
			t.Errorf("a core package depends on %s. Define an interface in the core package and wire the connector in cmd/vytalwatch", path)
		}
	}
}
