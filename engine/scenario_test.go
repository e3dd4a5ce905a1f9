package engine_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// TestScenarios runs each testdata/scenarios/NAME.tests.yaml against
// NAME.rules.yaml: readings in, the exact alert events out.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, testsPath := range files {
		name := strings.TrimSuffix(filepath.Base(testsPath), ".tests.yaml")
		t.Run(name, func(t *testing.T) {
			rulesPath := filepath.Join("testdata/scenarios", name+".rules.yaml")
			list, err := rules.Load(rulesPath, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			src, err := os.ReadFile(testsPath)
			if err != nil {
				t.Fatal(err)
			}
			tests, err := rules.ParseTestFile(src, testsPath)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, failed := engine.WriteRuleTestReport(&out, engine.RunRuleTests(rules.MustSet(list), tests)); failed > 0 {
				t.Fatalf("\n%s", out.String())
			}
		})
	}
}
