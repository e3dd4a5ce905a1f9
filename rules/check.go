package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/vytalwatch/vytalwatch"
)

var thresholdNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// usage is what an expression reads: the metrics, the longest window of
// each, and whether its value can change with the clock alone.
type usage struct {
	windows map[string]time.Duration
	clock   bool
	// readsData is set when the expression names any input: a function,
	// reading, patient or billing. Without one it is a constant.
	readsData bool
}

func newUsage() usage { return usage{windows: map[string]time.Duration{}} }

func (u usage) add(metric string, window time.Duration) {
	if window > u.windows[metric] {
		u.windows[metric] = window
	} else if _, ok := u.windows[metric]; !ok {
		u.windows[metric] = window
	}
}

func (u *usage) merge(o usage) {
	for m, w := range o.windows {
		u.add(m, w)
	}
	u.clock = u.clock || o.clock
	u.readsData = u.readsData || o.readsData
}

// checkConfig builds the expr configuration used to type-check users'
// expressions.
func checkConfig() *conf.Config {
	c := conf.CreateNew()
	for _, op := range checkOptions() {
		op(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.Check()
	return c
}

// checkExpression parses and type-checks a user's expression. wantBool
// requires a truth value (conditions, resets); otherwise any value will do
// (message templates).
func checkExpression(src string, wantBool bool, kind string) (usage, []exprProblem) {
	u := newUsage()
	if strings.TrimSpace(src) == "" {
		return u, []exprProblem{{offset: -1, message: "expression is empty"}}
	}
	cfg := checkConfig()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return u, []exprProblem{fromExprError(err)}
	}
	w := &walker{usage: u, billing: kind == KindBilling}
	ast.Walk(&tree.Node, w)
	if len(w.problems) > 0 {
		return u, w.problems
	}
	t, err := checker.Check(tree, cfg)
	if err != nil {
		return u, []exprProblem{fromExprError(err)}
	}
	if wantBool && t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return u, []exprProblem{{offset: 0, message: fmt.Sprintf("expression gives %s, not true or false", t), hint: `compare it, such as last("spo2") < 90`}}
	}
	// Compiling for evaluation also folds constants, which can fail where
	// type-checking passed, as 0 % 0 does. A rule that passed here but
	// failed in Bind would fail the binding of its whole rule set.
	if _, err := expr.Compile(src, runtimeOptions(NewEvalContext())...); err != nil {
		return u, []exprProblem{fromExprError(err)}
	}
	return w.usage, nil
}

func fromExprError(err error) exprProblem {
	var fe *file.Error
	if errors.As(err, &fe) {
		return exprProblem{offset: fe.From, message: fe.Message, hint: hintFor(fe.Message)}
	}
	return exprProblem{offset: 0, message: err.Error(), hint: hintFor(err.Error())}
}

var unknownNamePattern = regexp.MustCompile(`unknown name (\w+)`)

// hintFor suggests a fix for an error of the expr parser or type checker:
// a likely intended name for "unknown name", or how to stay under the node
// limit.
func hintFor(message string) string {
	if strings.Contains(message, "exceeds maximum allowed nodes") {
		return fmt.Sprintf("an expression may have at most %d nodes; split the rule into simpler rules", maxNodes)
	}
	m := unknownNamePattern.FindStringSubmatch(message)
	if m == nil {
		return ""
	}
	candidates := append([]string{"reading", "patient"}, functionNames()...)
	if s := vytalwatch.Suggest(m[1], candidates); s != "" {
		return fmt.Sprintf("did you mean %s?", s)
	}
	if s := vytalwatch.Suggest(m[1], vytalwatch.MetricNames()); s != "" {
		return fmt.Sprintf(`metrics are read through functions, such as last("%s")`, s)
	}
	return ""
}

// walker checks what the type checker cannot: which nodes are allowed,
// that functions are known, and that metrics and windows are literals
// naming real metrics and valid durations.
type walker struct {
	usage    usage
	problems []exprProblem
	// billing allows billing.*, which only billing rules may read.
	billing bool
}

func (w *walker) fail(n ast.Node, hint, format string, args ...any) {
	w.problems = append(w.problems, exprProblem{offset: n.Location().From, message: fmt.Sprintf(format, args...), hint: hint})
}

// failArg records a problem with a function argument or another
// expression, located at its first character: expr locates a member such
// as reading.metric at its last part.
func (w *walker) failArg(arg ast.Node, hint, format string, args ...any) {
	start := &startFinder{offset: arg.Location().From}
	ast.Walk(&arg, start)
	w.problems = append(w.problems, exprProblem{offset: start.offset, message: fmt.Sprintf(format, args...), hint: hint})
}

// startFinder finds the smallest offset of the nodes it visits.
type startFinder struct{ offset int }

func (f *startFinder) Visit(node *ast.Node) {
	f.offset = min(f.offset, (*node).Location().From)
}

// predicateHint is the hint for builtins that take a predicate.
const predicateHint = `windows are read through functions such as mean("heart_rate", "1h")`

func (w *walker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		w.usage.readsData = true
		if n.Value == "billing" {
			if !w.billing {
				w.fail(n, "set kind: billing on the rule", "billing.* is available to billing rules only")
			}
			w.usage.clock = true
		}
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode,
		*ast.MemberNode, *ast.UnaryNode, *ast.ArrayNode:
	case *ast.PredicateNode, *ast.PointerNode, *ast.PairNode:
		// These occur only inside a builtin call or a map literal, which
		// is reported once for the whole construct.
	case *ast.BinaryNode:
		if n.Operator == ".." {
			// A range builds the whole array when it runs, so 1..100000000
			// would allocate hundreds of megabytes.
			w.fail(n, "", "ranges (a..b) are not allowed in rules")
		}
	case *ast.BuiltinNode:
		w.checkBuiltin(n)
	case *ast.CallNode:
		w.usage.readsData = true
		w.checkCall(n)
	case *ast.ConditionalNode:
		// expr locates a conditional at its end, so point at its start.
		w.failArg(n, "combine conditions with && and ||", "conditional expressions (a ? b : c) are not allowed in rules")
	case *ast.VariableDeclaratorNode:
		w.fail(n, "", "variables (let) are not allowed in rules")
	case *ast.NilNode:
		w.fail(n, "test for missing data with known(...)", "nil is not allowed in rules")
	case *ast.MapNode:
		w.fail(n, "", "map literals are not allowed in rules")
	default:
		w.fail(n, "", "this kind of expression (%T) is not allowed in rules", n)
	}
}

// checkBuiltin rejects the expr builtins that rules may not use. The expr
// parser reads predicate builtins such as all, filter, map and sum as
// builtins even when they are disabled, so the type checker alone would let
// them through.
func (w *walker) checkBuiltin(n *ast.BuiltinNode) {
	if slices.Contains(allowedBuiltins, n.Name) {
		return
	}
	for _, arg := range n.Arguments {
		if _, ok := arg.(*ast.PredicateNode); ok {
			w.fail(n, predicateHint, "predicates over collections, such as %s(...), are not allowed in rules", n.Name)
			return
		}
	}
	w.fail(n, "", "function %s is not allowed in rules; the allowed builtins are %s", n.Name, strings.Join(allowedBuiltins, ", "))
}

func (w *walker) checkCall(n *ast.CallNode) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		w.fail(n, "", "only the rule functions can be called")
		return
	}
	f, ok := functionsByName[id.Value]
	if !ok {
		hint := ""
		if s := vytalwatch.Suggest(id.Value, functionNames()); s != "" {
			hint = fmt.Sprintf("did you mean %s?", s)
		}
		w.fail(n, hint, "unknown function %s; the rule functions are %s", id.Value, strings.Join(functionNames(), ", "))
		return
	}
	if len(n.Arguments) != len(f.args) {
		w.fail(n, "", "%s takes %d arguments, not %d", f.name, len(f.args), len(n.Arguments))
		return
	}
	if f.clock {
		w.usage.clock = true
	}
	var metric string
	var window time.Duration
	for i, kind := range f.args {
		arg := n.Arguments[i]
		switch kind {
		case argMetric:
			metric = w.metricArg(f.name, arg)
		case argWindow:
			window = w.windowArg(f.name, arg)
		case argName:
			s, ok := arg.(*ast.StringNode)
			if !ok || !thresholdNamePattern.MatchString(s.Value) {
				w.failArg(arg, `such as threshold("sbp_high", 180)`, "%s needs a threshold name in quotes: lowercase letters, digits and underscores", f.name)
			}
		}
	}
	if metric != "" {
		w.usage.add(metric, window)
	}
	if f.name == "news2" || f.name == "news2_red" {
		for _, m := range []string{"resp_rate", "spo2", "systolic_bp", "heart_rate", "temperature_c", "consciousness", "supplemental_o2"} {
			w.usage.add(m, 0)
		}
	}
}

func (w *walker) metricArg(fn string, arg ast.Node) string {
	s, ok := arg.(*ast.StringNode)
	if !ok {
		w.failArg(arg, fmt.Sprintf(`such as %s("spo2")`, fn), "%s needs a metric name in quotes", fn)
		return ""
	}
	if _, known := vytalwatch.LookupMetric(s.Value); !known {
		hint := ""
		if sug := vytalwatch.Suggest(s.Value, vytalwatch.MetricNames()); sug != "" {
			hint = fmt.Sprintf("did you mean %q?", sug)
		}
		w.fail(arg, hint, "unknown metric %q; the metrics are %s", s.Value, strings.Join(vytalwatch.MetricNames(), ", "))
		return ""
	}
	return s.Value
}

func (w *walker) windowArg(fn string, arg ast.Node) time.Duration {
	s, ok := arg.(*ast.StringNode)
	if !ok {
		w.failArg(arg, fmt.Sprintf(`such as %s("heart_rate", "1h")`, fn), "%s needs a window in quotes", fn)
		return 0
	}
	d, err := ParseWindow(s.Value)
	if err != nil {
		w.fail(arg, "", "%v", err)
		return 0
	}
	if d == 0 {
		w.fail(arg, `such as "1h"`, "window %q is empty; a window must be longer than 0", s.Value)
		return 0
	}
	return d
}
