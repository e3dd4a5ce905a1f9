package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

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
func checkExpression(src string, wantBool bool) (usage, []exprProblem) {
	u := newUsage()
	if strings.TrimSpace(src) == "" {
		return u, []exprProblem{{line: 1, message: "expression is empty"}}
	}
	cfg := checkConfig()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return u, []exprProblem{fromExprError(err, "")}
	}
	var problems []exprProblem
	w := &walker{src: src, usage: u}
	ast.Walk(&tree.Node, w)
	problems = append(problems, w.problems...)
	if len(problems) > 0 {
		return u, problems
	}
	t, err := checker.Check(tree, cfg)
	if err != nil {
		return u, []exprProblem{fromExprError(err, hintFor(err.Error()))}
	}
	if wantBool && t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return u, []exprProblem{{line: 1, message: fmt.Sprintf("expression gives %s, not true or false", t), hint: `compare it, such as last("spo2") < 90`}}
	}
	return w.usage, nil
}

func fromExprError(err error, hint string) exprProblem {
	var fe *file.Error
	if errors.As(err, &fe) {
		return exprProblem{line: fe.Line, column: fe.Column, message: fe.Message, hint: hint}
	}
	return exprProblem{line: 1, message: err.Error(), hint: hint}
}

var unknownNamePattern = regexp.MustCompile(`unknown name (\w+)`)

// hintFor suggests a likely intended name for expr's "unknown name" errors.
func hintFor(message string) string {
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
	src      string
	usage    usage
	problems []exprProblem
}

func (w *walker) fail(n ast.Node, hint, format string, args ...any) {
	line, col := offsetToPosition(w.src, n.Location().From)
	w.problems = append(w.problems, exprProblem{line: line, column: col, message: fmt.Sprintf(format, args...), hint: hint})
}

func (w *walker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.IdentifierNode,
		*ast.MemberNode, *ast.BinaryNode, *ast.UnaryNode, *ast.ArrayNode, *ast.BuiltinNode:
	case *ast.CallNode:
		w.checkCall(n)
	case *ast.ConditionalNode:
		w.fail(n, "combine conditions with && and ||", "conditional expressions (a ? b : c) are not allowed in rules")
	case *ast.PredicateNode, *ast.PointerNode:
		w.fail(n, "windows are read through functions such as mean(\"heart_rate\", \"1h\")", "predicates over collections are not allowed in rules")
	case *ast.VariableDeclaratorNode:
		w.fail(n, "", "variables (let) are not allowed in rules")
	case *ast.NilNode:
		w.fail(n, "test for missing data with known(...)", "nil is not allowed in rules")
	default:
		w.fail(n, "", "this kind of expression (%T) is not allowed in rules", n)
	}
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
				w.fail(arg, `such as threshold("sbp_high", 180)`, "%s needs a threshold name in quotes: lowercase letters, digits and underscores", f.name)
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
		w.fail(arg, fmt.Sprintf(`such as %s("spo2")`, fn), "%s needs a metric name in quotes", fn)
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
		w.fail(arg, fmt.Sprintf(`such as %s("heart_rate", "1h")`, fn), "%s needs a window in quotes", fn)
		return 0
	}
	d, err := ParseWindow(s.Value)
	if err != nil {
		w.fail(arg, "", "%v", err)
		return 0
	}
	return d
}
