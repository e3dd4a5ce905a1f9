package rules

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml"
)

// TestFile is a rule test file, run by `vytalwatch rules test`: each test
// feeds readings for one patient and lists every alert event the rules
// must emit, in order.
type TestFile struct {
	Tests []TestCase `yaml:"tests"`
}

// TestCase is one scenario.
type TestCase struct {
	Name    string      `yaml:"name"`
	Patient TestPatient `yaml:"patient"`
	// Readings are in arrival order; a step may instead update or delete
	// a rule at that moment.
	Readings []TestStep `yaml:"readings"`
	// EvalAt, when set, advances the clock to this time at the end, so
	// timers fire.
	EvalAt string          `yaml:"eval_at"`
	Expect []ExpectedEvent `yaml:"expect"`
	// ExpectRejected lists the rejection reasons of readings the engine
	// must refuse, in order. A reading refused without being listed fails
	// the test, so a typo in a test cannot pass as "no alert".
	ExpectRejected []string `yaml:"expect_rejected"`
}

// TestPatient is the patient's profile.
type TestPatient struct {
	ID          string             `yaml:"id"`
	Timezone    string             `yaml:"timezone"`
	Age         *float64           `yaml:"age"`
	Conditions  []string           `yaml:"conditions"`
	Thresholds  map[string]float64 `yaml:"thresholds"`
	News2Scale2 bool               `yaml:"news2_scale2"`
	// EnrollmentDate (YYYY-MM-DD) starts the billing episode.
	EnrollmentDate string `yaml:"enrollment_date"`
}

// TestStep is a reading, or a rule change, at a time.
type TestStep struct {
	At     string   `yaml:"at"`
	Metric string   `yaml:"metric"`
	Value  *float64 `yaml:"value"`
	Unit   string   `yaml:"unit"`
	// Components carries a blood_pressure reading's values.
	Components    map[string]float64 `yaml:"components"`
	DeviceID      string             `yaml:"device_id"`
	MeasurementID string             `yaml:"measurement_id"`
	// ArrivedAt is when the reading reached the engine; defaults to At.
	ArrivedAt string `yaml:"arrived_at"`
	// TimeEntry logs staff time at At, for billing rules.
	TimeEntry *TestTimeEntry `yaml:"time_entry"`
	// UpdateRule publishes a new definition of a rule at At.
	UpdateRule *Rule `yaml:"update_rule"`
	// DeleteRule deletes the rule with this id at At.
	DeleteRule string `yaml:"delete_rule"`
}

// TestTimeEntry is time staff spent on the patient, starting at the
// step's time.
type TestTimeEntry struct {
	ID          string `yaml:"entry_id"`
	StaffID     string `yaml:"staff_id"`
	Program     string `yaml:"program"`
	Minutes     int    `yaml:"minutes"`
	Interactive bool   `yaml:"interactive"`
}

// ExpectedEvent is one alert event a test expects. At is optional, for
// events whose exact minute depends on the timer.
type ExpectedEvent struct {
	Rule    string `yaml:"rule"`
	Event   string `yaml:"event"`
	At      string `yaml:"at"`
	Version int    `yaml:"version"`
}

// ParseTestFile parses a rule test file and checks its times.
func ParseTestFile(data []byte, source string) (*TestFile, error) {
	var f TestFile
	if err := decodeYAML(data, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %s", source, yaml.FormatError(err, false, false))
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: the file has no tests; start it with tests: and a list", source)
	}
	for i, tc := range f.Tests {
		where := fmt.Sprintf("%s: tests[%d] (%s)", source, i, tc.Name)
		if tc.Name == "" {
			return nil, fmt.Errorf("%s: name is missing", where)
		}
		for j, s := range tc.Readings {
			if _, err := ParseTime(s.At); err != nil {
				return nil, fmt.Errorf("%s: readings[%d].at: %w", where, j, err)
			}
			if s.ArrivedAt != "" {
				if _, err := ParseTime(s.ArrivedAt); err != nil {
					return nil, fmt.Errorf("%s: readings[%d].arrived_at: %w", where, j, err)
				}
			}
			if s.UpdateRule == nil && s.DeleteRule == "" && s.Metric == "" && s.TimeEntry == nil {
				return nil, fmt.Errorf("%s: readings[%d] has no metric, time_entry, update_rule or delete_rule", where, j)
			}
		}
		if tc.EvalAt != "" {
			if _, err := ParseTime(tc.EvalAt); err != nil {
				return nil, fmt.Errorf("%s: eval_at: %w", where, err)
			}
		}
		for j, e := range tc.Expect {
			if e.At != "" {
				if _, err := ParseTime(e.At); err != nil {
					return nil, fmt.Errorf("%s: expect[%d].at: %w", where, j, err)
				}
			}
		}
	}
	return &f, nil
}

// ParseTime parses an RFC 3339 time as tests and flags write it.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-03-10T10:00:00Z", s)
	}
	return t, nil
}
