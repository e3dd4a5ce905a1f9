package rules

import (
	"math"
	"slices"

	"github.com/vytalwatch/vytalwatch"
)

// InScope reports whether the rule applies to a patient. profile is nil
// for a patient with no profile; age is NaN when unknown.
func (c *Compiled) InScope(patientID string, profile *vytalwatch.PatientProfile, age float64) bool {
	s := &c.Rule.Scope
	if len(s.Patients) > 0 && !slices.Contains(s.Patients, patientID) {
		return false
	}
	if len(s.Conditions) > 0 {
		if profile == nil {
			return false
		}
		matched := false
		for _, cond := range s.Conditions {
			if profile.HasCondition(cond) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	if s.MinAge != nil || s.MaxAge != nil {
		if math.IsNaN(age) {
			return false
		}
		if s.MinAge != nil && age < *s.MinAge {
			return false
		}
		if s.MaxAge != nil && age > *s.MaxAge {
			return false
		}
	}
	return true
}
