package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// handleValidateRule compiles a rule without storing it: 200 with the
// rule as normalized, or 422 listing every problem.
func (s *Server) handleValidateRule(w http.ResponseWriter, r *http.Request) {
	var rule rules.Rule
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &rule); err != nil {
		s.fail(w, r, err)
		return
	}
	c, problems := rules.Compile(rule)
	if len(problems) > 0 {
		s.fail(w, r, ruleProblems(problems))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "rule": c.Rule, "clock_driven": c.ClockDriven})
}

// ruleSetRequest names the rules a test or backtest runs: one rule, a
// list, or both.
type ruleSetRequest struct {
	Rule  *rules.Rule  `json:"rule,omitempty"`
	Rules []rules.Rule `json:"rules,omitempty"`
}

// compile builds the rule set of the request.
func (req ruleSetRequest) compile() (*rules.Set, error) {
	list := req.Rules
	if req.Rule != nil {
		list = append([]rules.Rule{*req.Rule}, list...)
	}
	if len(list) == 0 {
		return nil, invalid(FieldError{"rule", "give a rule, or rules with a list"})
	}
	var compiled []*rules.Compiled
	var problems []rules.Problem
	for i, r := range list {
		c, ps := rules.Compile(r)
		for _, p := range ps {
			p.Field = fmt.Sprintf("rules[%d].%s", i, p.Field)
			p.RuleID = r.ID
			problems = append(problems, p)
		}
		if c != nil {
			compiled = append(compiled, c)
		}
	}
	if len(problems) > 0 {
		return nil, ruleProblems(problems)
	}
	set, err := rules.NewSet(compiled)
	if err != nil {
		return nil, invalid(FieldError{"rules", err.Error()})
	}
	return set, nil
}

type ruleTestRequest struct {
	ruleSetRequest
	// Tests are test cases in the format of rule test files (the list
	// under tests:), as JSON.
	Tests json.RawMessage `json:"tests"`
}

type ruleTestResult struct {
	Name     string   `json:"name"`
	Passed   bool     `json:"passed"`
	Expected []string `json:"expected"`
	Got      []string `json:"got"`
	Error    string   `json:"error,omitempty"`
}

// handleTestRules runs rule tests, as `vytalwatch rules test` does: every
// expected event must happen in order, and no other.
func (s *Server) handleTestRules(w http.ResponseWriter, r *http.Request) {
	var req ruleTestRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	set, err := req.compile()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Tests) == 0 || !strings.HasPrefix(strings.TrimSpace(string(req.Tests)), "[") {
		s.fail(w, r, invalid(FieldError{"tests", "must be a list of test cases, as under tests: in a rule test file"}))
		return
	}
	// JSON is YAML, so the test-file parser reads the cases as they are.
	file, err := rules.ParseTestFile([]byte(`{"tests": `+string(req.Tests)+`}`), "tests")
	if err != nil {
		s.fail(w, r, invalid(FieldError{"tests", err.Error()}))
		return
	}
	results := engine.RunRuleTests(set, file)
	out := make([]ruleTestResult, len(results))
	passed := 0
	for i, res := range results {
		out[i] = ruleTestResult{Name: res.Name, Passed: res.Passed, Expected: nonNil(res.Expected), Got: nonNil(res.Got)}
		if res.Err != nil {
			out[i].Error = res.Err.Error()
		}
		if res.Passed {
			passed++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"passed": passed, "failed": len(results) - passed, "results": out})
}

type backtestRequest struct {
	ruleSetRequest
	// CSV is vitals history with the columns of vytalwatch CSV files.
	CSV string `json:"csv"`
	// TimerStep is how often clock-driven rules run, in the history's
	// time, such as 1m; "0s" disables timers. Defaults to 1m.
	TimerStep string `json:"timer_step,omitempty"`
}

// handleBacktest replays CSV history through the rules and reports what
// they would have fired, per rule.
func (s *Server) handleBacktest(w http.ResponseWriter, r *http.Request) {
	var req backtestRequest
	if err := decodeJSON(w, r, s.cfg.BacktestBodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	set, err := req.compile()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	step := time.Minute
	if req.TimerStep != "" {
		if step, err = time.ParseDuration(req.TimerStep); err != nil || step < 0 || (step > 0 && step < time.Second) {
			s.fail(w, r, invalid(FieldError{"timer_step", "must be 0s or a duration of at least 1s, such as 1m"}))
			return
		}
	}
	history, err := s.readHistory(req.CSV)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	report, err := engine.Backtest(set, history, step)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// HistoryReader reads the CSV history of a backtest request as readings
// in arrival order. Its error describes the first bad header or row, and
// the API returns that text to the client.
type HistoryReader func(r io.Reader) ([]engine.BacktestReading, error)

// readHistory turns CSV text into backtest readings, as `vytalwatch rules
// backtest` does: each row is a canonical reading whose arrival is the
// backtest clock.
func (s *Server) readHistory(text string) ([]engine.BacktestReading, error) {
	if strings.TrimSpace(text) == "" {
		return nil, invalid(FieldError{"csv", "is required: a header line patient_id,time,metric,value,unit,source_row_id and rows"})
	}
	history, err := s.history(strings.NewReader(text))
	if err != nil {
		return nil, invalid(FieldError{"csv", err.Error()})
	}
	return history, nil
}
