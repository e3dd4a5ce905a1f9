package rules

import (
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/vytalwatch/vytalwatch/operators"
)

// Missing data is unknown, and unknown propagates as SQL's NULL does: a
// comparison with an unknown number is unknown, "unknown || true" is true,
// "unknown && true" is unknown, and "not unknown" is unknown. Numbers carry
// unknown as NaN, so arithmetic propagates it on its own. Comparisons and
// logic are rewritten into calls of the functions below when a rule is
// compiled for evaluation; users type-check against plain bool.

var (
	truthType = reflect.TypeOf(operators.Unknown)
	boolType  = reflect.TypeOf(false)
)

var comparisonCalls = map[string]string{
	"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "==": "_eq", "!=": "_ne",
}

// truthPatcher rewrites comparisons of numbers and all logic operators into
// three-valued calls. ast.Walk visits children first, so the operands of a
// logic operator may already be rewritten calls; the logic functions accept
// bool and Truth alike.
type truthPatcher struct{}

func (truthPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			patchCall(node, "_and", n.Left, n.Right)
		case "||", "or":
			patchCall(node, "_or", n.Left, n.Right)
		case "<", "<=", ">", ">=", "==", "!=":
			if isNumber(n.Left) && isNumber(n.Right) {
				patchCall(node, comparisonCalls[n.Operator], n.Left, n.Right)
			} else if (n.Operator == "==" || n.Operator == "!=") && isLogical(n.Left) && isLogical(n.Right) {
				name := "_same"
				if n.Operator == "!=" {
					name = "_differ"
				}
				patchCall(node, name, n.Left, n.Right)
			}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			patchCall(node, "_not", n.Node)
		}
	}
}

func patchCall(node *ast.Node, name string, args ...ast.Node) {
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args})
}

func isNumber(n ast.Node) bool {
	t := n.Type()
	if t == nil || t == truthType {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func isLogical(n ast.Node) bool {
	if c, ok := n.(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && len(id.Value) > 0 && id.Value[0] == '_' {
			return true
		}
	}
	t := n.Type()
	return t == boolType || t == truthType
}

// asTruth converts a bool or a Truth to a Truth.
func asTruth(v any) operators.Truth {
	switch t := v.(type) {
	case operators.Truth:
		return t
	case bool:
		return operators.FromBool(t)
	}
	return operators.Unknown
}

func truthOptions() []expr.Option {
	logic2 := []any{new(func(any, any) operators.Truth)}
	numbers2 := []any{
		new(func(float64, float64) operators.Truth), new(func(float64, int) operators.Truth),
		new(func(int, float64) operators.Truth), new(func(int, int) operators.Truth),
	}
	opts := []expr.Option{
		expr.Function("_and", func(a ...any) (any, error) {
			return operators.And(asTruth(a[0]), asTruth(a[1])), nil
		}, logic2...),
		expr.Function("_or", func(a ...any) (any, error) {
			return operators.Or(asTruth(a[0]), asTruth(a[1])), nil
		}, logic2...),
		expr.Function("_not", func(a ...any) (any, error) {
			return operators.Not(asTruth(a[0])), nil
		}, new(func(any) operators.Truth)),
		expr.Function("_same", func(a ...any) (any, error) {
			return sameTruth(asTruth(a[0]), asTruth(a[1])), nil
		}, logic2...),
		expr.Function("_differ", func(a ...any) (any, error) {
			return operators.Not(sameTruth(asTruth(a[0]), asTruth(a[1]))), nil
		}, logic2...),
	}
	for op, name := range comparisonCalls {
		opts = append(opts, expr.Function(name, func(a ...any) (any, error) {
			return operators.Compare(op, toFloat(a[0]), toFloat(a[1])), nil
		}, numbers2...))
	}
	return opts
}

// sameTruth is three-valued equality: unknown when either side is.
func sameTruth(a, b operators.Truth) operators.Truth {
	if a == operators.Unknown || b == operators.Unknown {
		return operators.Unknown
	}
	return operators.FromBool(a == b)
}
