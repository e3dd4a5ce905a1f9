package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: rules needs a subcommand: test, validate, backtest or publish", errUsage)
	}
	switch args[0] {
	case "test":
		return runRulesTest(args[1:], stdout)
	case "validate":
		return runRulesValidate(args[1:], stdout)
	case "backtest":
		return runRulesBacktest(args[1:], stdout, stderr)
	case "publish":
		return runRulesPublish(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown rules subcommand %q; use test, validate, backtest or publish", errUsage, args[0])
}

func runRulesTest(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: rules test takes RULES.yaml TESTS.yaml", errUsage)
	}
	set, err := loadRuleSet(args[0])
	if err != nil {
		return err
	}
	src, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	tests, err := rules.ParseTestFile(src, args[1])
	if err != nil {
		return err
	}
	_, failed := engine.WriteRuleTestReport(stdout, engine.RunRuleTests(set, tests))
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

func runRulesValidate(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: rules validate takes RULES.yaml", errUsage)
	}
	list, err := rules.Load(args[0], os.ReadFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d rules valid\n", args[0], len(list))
	return nil
}
