package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/vytalwatch/vytalwatch/operators"
)

// Compiled is a validated rule, ready to be bound to evaluation contexts.
// It is immutable and shared by every partition task.
type Compiled struct {
	Rule     Rule
	Hold     Hold
	Renotify time.Duration
	// Windows maps each metric the rule reads to the longest window it
	// reads it over (0 for last, since and NEWS2).
	Windows map[string]time.Duration
	// ClockDriven is set when the rule's value can change with time alone
	// (since, window functions, a duration hold or renotify), so timers
	// evaluate it as well as readings.
	ClockDriven bool
	// ClockCondition is set when the condition, reset or message reads
	// since() or a window, whose values change at every tick; otherwise
	// only holds and renotification wait on the clock.
	ClockCondition bool
	// Fingerprint identifies the rule's definition, so that a changed
	// definition never inherits the alert state of the old one.
	Fingerprint string
	template    *template
}

// Version returns the rule's version, 1 when it gives none.
func (c *Compiled) Version() int {
	if c.Rule.Version == 0 {
		return 1
	}
	return c.Rule.Version
}

// StateKey returns the key of the rule's alert states: id and version, so
// that a new version starts with fresh state.
func (c *Compiled) StateKey() string {
	return fmt.Sprintf("%s@%d", c.Rule.ID, c.Version())
}

// Instance is a compiled rule bound to one evaluation context, for use by
// one goroutine.
type Instance struct {
	*Compiled
	ctx       *EvalContext
	condition *vm.Program
	reset     *vm.Program
	message   []*vm.Program
	machine   vm.VM
}

// Bind compiles the rule's expressions for evaluation in ctx.
func (c *Compiled) Bind(ctx *EvalContext) (*Instance, error) {
	opts := runtimeOptions(ctx)
	inst := &Instance{Compiled: c, ctx: ctx}
	var err error
	if inst.condition, err = expr.Compile(c.Rule.Condition, opts...); err != nil {
		return nil, fmt.Errorf("compile condition of rule %s: %w", c.Rule.ID, err)
	}
	if c.Rule.Reset != "" {
		if inst.reset, err = expr.Compile(c.Rule.Reset, opts...); err != nil {
			return nil, fmt.Errorf("compile reset of rule %s: %w", c.Rule.ID, err)
		}
	}
	for _, part := range c.template.parts {
		if !part.expr {
			inst.message = append(inst.message, nil)
			continue
		}
		p, err := expr.Compile(part.text, opts...)
		if err != nil {
			return nil, fmt.Errorf("compile message of rule %s: %w", c.Rule.ID, err)
		}
		inst.message = append(inst.message, p)
	}
	return inst, nil
}

// Condition evaluates the rule's condition in the bound context.
func (i *Instance) Condition() (operators.Truth, error) {
	return i.truth(i.condition)
}

// Reset evaluates the rule's reset condition: the explicit one, or "not
// condition" under three-valued logic, so missing data never resolves.
func (i *Instance) Reset() (operators.Truth, error) {
	if i.reset == nil {
		c, err := i.truth(i.condition)
		return operators.Not(c), err
	}
	return i.truth(i.reset)
}

func (i *Instance) truth(p *vm.Program) (operators.Truth, error) {
	out, err := i.machine.Run(p, i.ctx.env)
	if err != nil {
		return operators.Unknown, err
	}
	return asTruth(out), nil
}

// Message renders the rule's message template in the bound context.
func (i *Instance) Message() string {
	return i.template.render(func(k int) (any, error) {
		return i.machine.Run(i.message[k], i.ctx.env)
	})
}

// Metrics returns the metrics whose readings trigger the rule.
func (c *Compiled) Metrics() []string { return slices.Clone(c.Rule.Metrics) }
