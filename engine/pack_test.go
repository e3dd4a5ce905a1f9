package engine_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// TestBuiltinPacks runs each built-in pack's own rule tests.
func TestBuiltinPacks(t *testing.T) {
	for _, name := range rules.PackNames() {
		t.Run(name, func(t *testing.T) {
			list, err := rules.Pack(name)
			if err != nil {
				t.Fatal(err)
			}
			src, err := rules.PackSource(name + "_test")
			if err != nil {
				t.Fatalf("pack %s has no tests: %v", name, err)
			}
			tests, err := rules.ParseTestFile(src, name+"_test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			results := engine.RunRuleTests(rules.MustSet(list), tests)
			var out bytes.Buffer
			_, failed := engine.WriteRuleTestReport(&out, results)
			if failed > 0 {
				t.Fatalf("pack %s:\n%s", name, out.String())
			}
		})
	}
}

// TestRuleTestRefusedReadingFails checks that a test whose reading the
// engine refuses (here a misspelt unit) fails instead of passing as "no
// alert".
func TestRuleTestRefusedReadingFails(t *testing.T) {
	list, err := rules.Pack("standard")
	if err != nil {
		t.Fatal(err)
	}
	src := []byte(`tests:
  - name: typo in the unit
    readings:
      - {at: "2026-03-10T10:00:00Z", metric: heart_rate, value: 30, unit: bmp}
    expect: []
`)
	tests, err := rules.ParseTestFile(src, "typo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := engine.RunRuleTests(rules.MustSet(list), tests)
	if results[0].Passed {
		t.Fatal("the test passed although its reading was refused")
	}
	if results[0].Err == nil || !strings.Contains(results[0].Err.Error(), "unknown_unit") {
		t.Errorf("error %v, want it to name unknown_unit", results[0].Err)
	}
}
