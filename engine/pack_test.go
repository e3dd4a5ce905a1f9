package engine_test

import (
	"bytes"
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
