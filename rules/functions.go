package rules

import (
	"fmt"
	"math"

	"github.com/expr-lang/expr"

	"github.com/vytalwatch/vytalwatch/operators"
)

// argKind says what a function argument must be at compile time.
type argKind int

const (
	argNumber argKind = iota
	argMetric         // a string literal naming a known metric
	argWindow         // a string literal duration such as 30m
	argName           // a string literal threshold name
	argAny
)

// function is one function that rule expressions can call.
type function struct {
	name string
	args []argKind
	// checkType is the signature shown to users when their expression is
	// type-checked: truth values appear as bool there.
	checkType any
	// runtimeType is the signature used for evaluation, where functions
	// that may lack data return operators.Truth.
	runtimeType any
	impl        func(c *EvalContext, args []any) any
	// clock marks functions whose value changes as time passes without
	// new readings, so rules that call them are also evaluated by the
	// clock.
	clock bool
	doc   string
}

func windowFunction(name, doc string, aggregate func([]operators.Point) float64) function {
	return function{
		name: name, args: []argKind{argMetric, argWindow}, clock: true, doc: doc,
		checkType:   new(func(string, string) float64),
		runtimeType: new(func(string, string) float64),
		impl: func(c *EvalContext, a []any) any {
			return aggregate(c.samples(a[0].(string), a[1].(string)))
		},
	}
}

// functions lists every function of the rule language.
var functions = []function{
	{
		name: "last", args: []argKind{argMetric}, doc: "latest value of a metric by event time",
		checkType: new(func(string) float64), runtimeType: new(func(string) float64),
		impl: func(c *EvalContext, a []any) any { return c.data.Last(a[0].(string)) },
	},
	windowFunction("mean", "mean of a metric's readings inside a window", operators.Mean),
	windowFunction("min", "lowest reading of a metric inside a window", operators.Min),
	windowFunction("max", "highest reading of a metric inside a window", operators.Max),
	windowFunction("count", "number of readings of a metric inside a window (0 when empty)", operators.Count),
	windowFunction("stddev", "sample standard deviation inside a window", operators.StdDev),
	windowFunction("delta", "latest minus earliest value inside a window", operators.Delta),
	windowFunction("slope", "least-squares slope inside a window, per hour", operators.Slope),
	{
		name: "since", args: []argKind{argMetric}, clock: true, doc: "hours since the latest reading of a metric",
		checkType: new(func(string) float64), runtimeType: new(func(string) float64),
		impl: func(c *EvalContext, a []any) any { return c.data.Since(a[0].(string)) },
	},
	{
		name: "news2", doc: "NEWS2 aggregate score; unknown until RR, SpO2, SBP, pulse and temperature are all present",
		checkType: new(func() float64), runtimeType: new(func() float64),
		impl: func(c *EvalContext, a []any) any { return operators.News2(c.news2Inputs()) },
	},
	{
		name: "news2_red", doc: "whether any single NEWS2 parameter scores 3",
		checkType: new(func() bool), runtimeType: new(func() operators.Truth),
		impl: func(c *EvalContext, a []any) any { return operators.News2Red(c.news2Inputs()) },
	},
	{
		name: "threshold", args: []argKind{argName, argNumber}, doc: "the patient's override of a named threshold, else the default",
		checkType:   []any{new(func(string, float64) float64), new(func(string, int) float64)},
		runtimeType: []any{new(func(string, float64) float64), new(func(string, int) float64)},
		impl: func(c *EvalContext, a []any) any {
			if v, ok := c.data.Threshold(a[0].(string)); ok {
				return v
			}
			return toFloat(a[1])
		},
	},
	{
		name: "known", args: []argKind{argAny}, doc: "whether a value is present (not unknown)",
		checkType:   []any{new(func(float64) bool), new(func(int) bool), new(func(bool) bool)},
		runtimeType: []any{new(func(float64) bool), new(func(int) bool), new(func(operators.Truth) bool), new(func(bool) bool)},
		impl: func(c *EvalContext, a []any) any {
			switch v := a[0].(type) {
			case float64:
				return !math.IsNaN(v)
			case operators.Truth:
				return v != operators.Unknown
			}
			return true
		},
	},
}

var functionsByName = func() map[string]*function {
	m := make(map[string]*function, len(functions))
	for i := range functions {
		m[functions[i].name] = &functions[i]
	}
	return m
}()

func functionNames() []string {
	names := make([]string, 0, len(functions))
	for _, f := range functions {
		names = append(names, f.name)
	}
	return names
}

// allowedBuiltins are the expr builtins rules may use. Every other builtin
// is disabled: predicates over collections could run unbounded, and
// min, max, mean and count are the window functions here.
var allowedBuiltins = []string{"abs", "ceil", "floor", "round", "len", "lower", "upper"}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float32:
		return float64(n)
	}
	panic(fmt.Sprintf("rules: %T is not a number", v))
}

func signatures(t any) []any {
	if list, ok := t.([]any); ok {
		return list
	}
	return []any{t}
}

// checkOptions are the expr options for type-checking a user's expression.
func checkOptions() []expr.Option {
	opts := baseOptions()
	for _, f := range functions {
		opts = append(opts, expr.Function(f.name, func(...any) (any, error) { return nil, nil }, signatures(f.checkType)...))
	}
	return opts
}

// runtimeOptions are the expr options for a program bound to ctx.
func runtimeOptions(ctx *EvalContext) []expr.Option {
	opts := baseOptions()
	for i := range functions {
		f := &functions[i]
		opts = append(opts, expr.Function(f.name, func(args ...any) (any, error) {
			return f.impl(ctx, args), nil
		}, signatures(f.runtimeType)...))
	}
	opts = append(opts, truthOptions()...)
	opts = append(opts, expr.Patch(truthPatcher{}))
	return opts
}

// maxNodes bounds the size of one expression, so a saved rule cannot be
// arbitrarily expensive to evaluate.
const maxNodes = 200

func baseOptions() []expr.Option {
	opts := []expr.Option{expr.Env(Env{}), expr.DisableAllBuiltins(), expr.MaxNodes(maxNodes)}
	for _, b := range allowedBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	return opts
}
