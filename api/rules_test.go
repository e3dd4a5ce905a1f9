package api_test

import (
	"context"
	"net/http"
	"testing"
)

var spo2Rule = map[string]any{"id": "spo2-low", "name": "SpO2 low", "severity": "high", "metrics": []string{"spo2"},
	"condition": `last("spo2") < 90`}

func TestRuleLifecycleThroughAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	var view struct {
		Version int   `json:"version"`
		Enabled *bool `json:"enabled"`
	}

	res := e.do("POST", "/v1/rules", tk, spo2Rule)
	if res.status != http.StatusCreated || res.header.Get("Location") != "/v1/rules/spo2-low" {
		t.Fatalf("create: status %d location %q: %s", res.status, res.header.Get("Location"), res.body)
	}
	if res := e.do("POST", "/v1/rules", tk, spo2Rule); res.status != http.StatusConflict {
		t.Errorf("second create: status %d, want 409", res.status)
	}
	withVersion := map[string]any{"id": "x", "version": 3, "name": "x", "severity": "low", "metrics": []string{"spo2"}, "condition": `last("spo2") < 90`}
	if res := e.do("POST", "/v1/rules", tk, withVersion); res.status != http.StatusUnprocessableEntity {
		t.Errorf("create with a version: status %d, want 422", res.status)
	}

	updated := map[string]any{"name": "SpO2 low", "severity": "critical", "metrics": []string{"spo2"}, "condition": `last("spo2") < 88`}
	res = e.do("PUT", "/v1/rules/spo2-low", tk, updated)
	if res.status != http.StatusOK {
		t.Fatalf("update: status %d: %s", res.status, res.body)
	}
	res.decode(t, &view)
	if view.Version != 2 {
		t.Errorf("updated version = %d, want 2", view.Version)
	}
	res = e.do("POST", "/v1/rules/spo2-low/disable", tk, nil)
	res.decode(t, &view)
	if res.status != http.StatusOK || view.Version != 2 || view.Enabled == nil || *view.Enabled {
		t.Errorf("disable: status %d version %d enabled %v, want 200, version 2, false", res.status, view.Version, view.Enabled)
	}
	if res := e.do("DELETE", "/v1/rules/spo2-low", tk, nil); res.status != http.StatusNoContent {
		t.Errorf("delete: status %d, want 204", res.status)
	}
	if res := e.do("GET", "/v1/rules/spo2-low", tk, nil); res.status != http.StatusNotFound {
		t.Errorf("get after delete: status %d, want 404", res.status)
	}
	res = e.do("POST", "/v1/rules", tk, spo2Rule)
	res.decode(t, &view)
	if res.status != http.StatusCreated || view.Version != 3 {
		t.Errorf("re-create: status %d version %d, want 201 and version 3", res.status, view.Version)
	}
	var versions struct {
		Items []struct {
			Version int `json:"version"`
		} `json:"items"`
	}
	e.do("GET", "/v1/rules/spo2-low/versions", tk, nil).decode(t, &versions)
	if len(versions.Items) != 3 || versions.Items[2].Version != 3 {
		t.Errorf("versions = %+v, want 1, 2, 3", versions.Items)
	}
	// create, update, disable, delete, re-create.
	if n, _ := e.db.PendingOutbox(context.Background()); n != 5 {
		t.Errorf("outbox holds %d records, want 5", n)
	}
	records := e.auditRecords()
	var actions []string
	for _, r := range records[1:] {
		actions = append(actions, r.Action)
	}
	want := []string{"rule.create", "rule.update", "rule.disable", "rule.delete", "rule.create"}
	if len(actions) != len(want) {
		t.Fatalf("audited %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("audit %d = %s, want %s", i, actions[i], want[i])
		}
	}
}

func TestRuleTestAndBacktestEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken

	tests := []map[string]any{
		{"name": "fires once", "readings": []map[string]any{
			{"at": "2026-03-10T10:00:00Z", "metric": "spo2", "value": 85},
			{"at": "2026-03-10T10:05:00Z", "metric": "spo2", "value": 86}},
			"expect": []map[string]any{{"rule": "spo2-low", "event": "fired", "at": "2026-03-10T10:00:00Z"}}},
		{"name": "expects too much", "readings": []map[string]any{{"at": "2026-03-10T10:00:00Z", "metric": "spo2", "value": 97}},
			"expect": []map[string]any{{"rule": "spo2-low", "event": "fired"}}},
	}
	res := e.do("POST", "/v1/rules/test", tk, map[string]any{"rule": spo2Rule, "tests": tests})
	if res.status != http.StatusOK {
		t.Fatalf("test: status %d: %s", res.status, res.body)
	}
	var report struct {
		Passed  int `json:"passed"`
		Failed  int `json:"failed"`
		Results []struct {
			Name   string   `json:"name"`
			Passed bool     `json:"passed"`
			Got    []string `json:"got"`
		} `json:"results"`
	}
	res.decode(t, &report)
	if report.Passed != 1 || report.Failed != 1 {
		t.Errorf("passed %d failed %d, want 1 and 1", report.Passed, report.Failed)
	}
	if len(report.Results) != 2 || !report.Results[0].Passed || report.Results[1].Passed || len(report.Results[1].Got) != 0 {
		t.Errorf("results = %+v, want the first passed and the second failed with no events", report.Results)
	}

	csv := "patient_id,time,metric,value,unit,source_row_id\n" +
		"a,2026-03-10T08:00:00Z,spo2,88,%,1\n" +
		"a,2026-03-10T09:00:00Z,spo2,96,%,2\n" +
		"b,2026-03-10T08:00:00Z,spo2,700,%,3\n"
	res = e.do("POST", "/v1/rules/backtest", tk, map[string]any{"rule": spo2Rule, "csv": csv})
	if res.status != http.StatusOK {
		t.Fatalf("backtest: status %d: %s", res.status, res.body)
	}
	var bt struct {
		Readings int64 `json:"readings"`
		Rejected int64 `json:"rejected"`
		Rules    []struct {
			RuleID   string   `json:"rule_id"`
			Fired    int      `json:"fired"`
			Resolved int      `json:"resolved"`
			Patients []string `json:"patients"`
		} `json:"rules"`
	}
	res.decode(t, &bt)
	if bt.Readings != 3 || bt.Rejected != 1 {
		t.Errorf("readings %d rejected %d, want 3 and 1", bt.Readings, bt.Rejected)
	}
	if len(bt.Rules) != 1 || bt.Rules[0].Fired != 1 || bt.Rules[0].Resolved != 1 || len(bt.Rules[0].Patients) != 1 || bt.Rules[0].Patients[0] != "a" {
		t.Errorf("rules = %+v, want spo2-low fired and resolved once for a", bt.Rules)
	}
	res = e.do("POST", "/v1/rules/backtest", tk, map[string]any{"rule": spo2Rule, "csv": "patient_id,metric\nx,y\n"})
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("backtest of a CSV without the required columns: status %d, want 422", res.status)
	}
}
