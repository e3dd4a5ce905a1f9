package rules_test

import (
	"testing"

	"github.com/vytalwatch/vytalwatch/rules"
)

func TestPacksCompile(t *testing.T) {
	for _, name := range rules.PackNames() {
		list, err := rules.Pack(name)
		if err != nil {
			t.Fatalf("pack %s: %v", name, err)
		}
		if len(list) == 0 {
			t.Fatalf("pack %s has no rules", name)
		}
		set, err := rules.NewSet(list)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.Bind(rules.NewEvalContext(), nil); err != nil {
			t.Fatalf("bind pack %s: %v", name, err)
		}
	}
}
