package vytalwatch_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
)

func TestDecodeProfile(t *testing.T) {
	data := []byte(`{"patient_id":"p1","timezone":"America/Chicago","birth_date":"1958-07-04",
		"conditions":["hypertension","copd"],"thresholds":{"spo2_low":88},"news2_scale2":true,
		"enrollment_date":"2026-01-15"}`)
	p, err := vytalwatch.DecodeProfile(data)
	if err != nil {
		t.Fatalf("DecodeProfile: %v", err)
	}
	if p.PatientID != "p1" {
		t.Errorf("PatientID = %q", p.PatientID)
	}
	if p.Timezone != "America/Chicago" {
		t.Errorf("Timezone = %q", p.Timezone)
	}
	if !p.HasCondition("copd") {
		t.Error("HasCondition(copd) = false")
	}
	if p.HasCondition("heart_failure") {
		t.Error("HasCondition(heart_failure) = true")
	}
	if p.Thresholds["spo2_low"] != 88 {
		t.Errorf("Thresholds = %v", p.Thresholds)
	}
	if !p.News2Scale2 {
		t.Error("News2Scale2 = false")
	}
	if p.EnrollmentDate != "2026-01-15" {
		t.Errorf("EnrollmentDate = %q", p.EnrollmentDate)
	}
}

func TestDecodeProfileErrors(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		mention string
	}{
		{"bad JSON", `{"patient_id":`, "invalid patient profile JSON"},
		{"tombstone", ``, "invalid patient profile JSON"},
		{"wrong type", `{"patient_id":7}`, "invalid patient profile JSON"},
		{"missing patient_id", `{"timezone":"UTC"}`, "patient_id"},
		{"bad timezone", `{"patient_id":"p1","timezone":"Mars/Olympus"}`, "Mars/Olympus"},
		{"timezone Local", `{"patient_id":"p1","timezone":"Local"}`, `"Local"`},
		{"bad birth_date", `{"patient_id":"p1","birth_date":"07/04/1958"}`, "birth_date \"07/04/1958\""},
		{"impossible birth_date", `{"patient_id":"p1","birth_date":"1958-02-30"}`, "1958-02-30"},
		{"bad enrollment_date", `{"patient_id":"p1","enrollment_date":"2026-1-15"}`, "enrollment_date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vytalwatch.DecodeProfile([]byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestAgeAt(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name  string
		birth string
		at    time.Time
		want  float64
	}{
		{"on birthday", "1958-07-04", day("2026-07-04"), 68},
		{"day before", "1958-07-04", day("2026-07-03"), 67},
		{"last nanosecond before", "1958-07-04", day("2026-07-04").Add(-time.Nanosecond), 67},
		{"day after", "1958-07-04", day("2026-07-05"), 68},
		{"leap birth year on birthday", "2000-03-01", day("2026-03-01"), 26},
		{"leap birth year day before", "2000-03-01", day("2026-02-28"), 25},
		{"leap year day before", "1990-03-01", day("2024-02-29"), 33},
		{"leap year on birthday", "1990-03-01", day("2024-03-01"), 34},
		{"29 February in common year", "2000-02-29", day("2025-02-28"), 24},
		{"1 March after 29 February", "2000-02-29", day("2025-03-01"), 25},
		{"29 February in leap year", "2000-02-29", day("2028-02-29"), 28},
		{"31 December", "1999-12-31", day("2024-12-31"), 25},
		{"30 December", "1999-12-31", day("2024-12-30"), 24},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := vytalwatch.PatientProfile{PatientID: "p1", BirthDate: tc.birth}
			if got := p.AgeAt(tc.at); got != tc.want {
				t.Errorf("AgeAt(%s) with birth %s = %v, want %v", tc.at.Format(time.DateOnly), tc.birth, got, tc.want)
			}
		})
	}
}

func TestAgeAtFallback(t *testing.T) {
	age := 71.0
	p := vytalwatch.PatientProfile{PatientID: "p1", Age: &age}
	if got := p.AgeAt(time.Now()); got != 71 {
		t.Errorf("AgeAt with age 71 = %v", got)
	}
	p.BirthDate = "not a date"
	if got := p.AgeAt(time.Now()); got != 71 {
		t.Errorf("AgeAt with an invalid birth date and age 71 = %v", got)
	}
}

func TestAgeAtUnknown(t *testing.T) {
	p := vytalwatch.PatientProfile{PatientID: "p1"}
	if got := p.AgeAt(time.Now()); !math.IsNaN(got) {
		t.Errorf("AgeAt without birth date or age = %v, want NaN", got)
	}
}
