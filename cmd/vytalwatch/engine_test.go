package main

import (
	"io"
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch/engine"
)

// TestEngineConfigBillingChoices checks that the practice's billing
// choices reach the engine from flags and from the environment.
func TestEngineConfigBillingChoices(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
	t.Setenv("VYTALWATCH_MAX_99458", "2")
	c, err := loadEngineConfig([]string{"--data-dir", t.TempDir(), "--prefer-99091"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.billing.MaxUnits99458 != 2 {
		t.Errorf("99458 cap = %d, want 2 from VYTALWATCH_MAX_99458", c.billing.MaxUnits99458)
	}
	if !c.billing.Prefer99091 {
		t.Error("--prefer-99091 did not reach the configuration")
	}
	if got := c.engineConfig(engine.DefaultTopics()).Billing; got != c.billing {
		t.Errorf("engine billing config = %+v, want %+v", got, c.billing)
	}
}

// TestEngineConfigReportsEveryProblem checks that one start reports every
// invalid setting, each with its value.
func TestEngineConfigReportsEveryProblem(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
	t.Setenv("VYTALWATCH_PREFER_99091", "maybe")
	_, err := loadEngineConfig([]string{"--max-99458", "0", "--partitions", "0"}, io.Discard)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		"no state directory",
		"partitions 0 must be 1 to 256",
		"99458 unit cap 0 must be 1 to 10",
		`VYTALWATCH_PREFER_99091 "maybe" is not true or false`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
