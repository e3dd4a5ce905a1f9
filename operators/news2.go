package operators

import "math"

// The NEWS2 bands in this file follow Chart 1 of the Royal College of
// Physicians report "National Early Warning Score (NEWS) 2: Standardising the
// assessment of acute-illness severity in the NHS" (London: RCP, 2017).
//
// The chart bands whole numbers, and for temperature numbers with one
// decimal, but readings are real numbers. So the scoring functions first
// round a reading to the precision of its chart row, half away from zero:
// pulse 90.5 scores as 91, and temperature 38.05 scores as 38.1.

// News2Inputs contains the latest value of each NEWS2 parameter. NaN means
// that there is no reading. The zero value is not empty but a set of
// readings of 0, so callers must set every missing field to math.NaN().
type News2Inputs struct {
	// RespRate is in breaths per minute, SpO2 in percent, SystolicBP in
	// mmHg, Pulse in beats per minute and TemperatureC in degrees Celsius.
	RespRate, SpO2, SystolicBP, Pulse, TemperatureC float64
	// Consciousness is 0 for alert and 1 for new confusion, or a response
	// only to voice or pain, or unresponsive. NaN counts as alert.
	Consciousness float64
	// SupplementalO2 is 0 for air and 1 for oxygen. NaN counts as air.
	SupplementalO2 float64
	// Scale2 selects SpO2 scale 2 for hypercapnic respiratory failure with a
	// target saturation of 88-92%. A clinician sets it per patient.
	Scale2 bool
}

// ScoreRespRate returns the NEWS2 score, 0 to 3, of a respiration rate in
// breaths per minute. The rate is rounded to a whole number first. v must
// not be NaN.
func ScoreRespRate(v float64) int {
	rate := math.Round(v)
	switch {
	case rate <= 8:
		return 3
	case rate <= 11:
		return 1
	case rate <= 20:
		return 0
	case rate <= 24:
		return 2
	default:
		return 3
	}
}

// ScoreSpO2 returns the NEWS2 score, 0 to 3, of an oxygen saturation in
// percent. The saturation is rounded to a whole number first. scale2 selects
// SpO2 scale 2, on which 93% or more scores 0 on air but 1 to 3 on oxygen,
// because it exceeds the 88-92% target. onOxygen is ignored on scale 1. v
// must not be NaN.
func ScoreSpO2(v float64, scale2, onOxygen bool) int {
	saturation := math.Round(v)
	if scale2 {
		return scoreSpO2Scale2(saturation, onOxygen)
	}
	switch {
	case saturation <= 91:
		return 3
	case saturation <= 93:
		return 2
	case saturation <= 95:
		return 1
	default:
		return 0
	}
}

func scoreSpO2Scale2(saturation float64, onOxygen bool) int {
	switch {
	case saturation <= 83:
		return 3
	case saturation <= 85:
		return 2
	case saturation <= 87:
		return 1
	case saturation <= 92 || !onOxygen:
		return 0
	case saturation <= 94:
		return 1
	case saturation <= 96:
		return 2
	default:
		return 3
	}
}

// ScoreSystolicBP returns the NEWS2 score, 0 to 3, of a systolic blood
// pressure in mmHg. The pressure is rounded to a whole number first. v must
// not be NaN.
func ScoreSystolicBP(v float64) int {
	pressure := math.Round(v)
	switch {
	case pressure <= 90:
		return 3
	case pressure <= 100:
		return 2
	case pressure <= 110:
		return 1
	case pressure <= 219:
		return 0
	default:
		return 3
	}
}

// ScorePulse returns the NEWS2 score, 0 to 3, of a pulse rate in beats per
// minute. The rate is rounded to a whole number first. v must not be NaN.
func ScorePulse(v float64) int {
	rate := math.Round(v)
	switch {
	case rate <= 40:
		return 3
	case rate <= 50:
		return 1
	case rate <= 90:
		return 0
	case rate <= 110:
		return 1
	case rate <= 130:
		return 2
	default:
		return 3
	}
}

// ScoreTemperature returns the NEWS2 score, 0 to 3, of a temperature in
// degrees Celsius. The temperature is rounded to one decimal first, so 38.04
// scores 0 and 38.05 scores 1. High temperatures score at most 2, as on the
// chart. v must not be NaN.
func ScoreTemperature(v float64) int {
	// Banding whole tenths avoids comparing with inexact decimals such as
	// 38.1. A reading typed as 38.05 is stored as 38.04999..., but its
	// product with 10 rounds to exactly 380.5, which math.Round takes up to
	// 381. The tests check this for every such reading from 25.05 to 45.95.
	tenths := math.Round(v * 10)
	switch {
	case tenths <= 350:
		return 3
	case tenths <= 360:
		return 1
	case tenths <= 380:
		return 0
	case tenths <= 390:
		return 1
	default:
		return 2
	}
}

// ScoreConsciousness returns the NEWS2 score of a consciousness code: 0 for
// 0 (alert) and 3 for any other value, which covers new confusion and the V,
// P and U levels of ACVPU. v must not be NaN.
func ScoreConsciousness(v float64) int {
	if v == 0 {
		return 0
	}
	return 3
}

// ScoreSupplementalO2 returns the NEWS2 score of the oxygen flag: 0 for 0
// (air) and 2 for any other value (supplemental oxygen). v must not be NaN.
func ScoreSupplementalO2(v float64) int {
	if v == 0 {
		return 0
	}
	return 2
}

// News2 returns the aggregate NEWS2 score, 0 to 20. It returns NaN unless
// respiration rate, SpO2, systolic pressure, pulse and temperature are all
// present, because a partial sum would understate the risk. A missing
// consciousness counts as alert and a missing oxygen flag counts as air.
func News2(in News2Inputs) float64 {
	total, _, complete := scoreInputs(in)
	if !complete {
		return math.NaN()
	}
	return float64(total)
}

// News2Red reports whether any single NEWS2 parameter scores 3, the red
// band of the NEWS2 chart. It returns True as soon as one present parameter
// scores 3, including a consciousness of 1, even when others are missing. It
// returns False only when all five vital signs are present and none scores
// 3, and Unknown otherwise.
func News2Red(in News2Inputs) Truth {
	_, red, complete := scoreInputs(in)
	switch {
	case red:
		return True
	case complete:
		return False
	default:
		return Unknown
	}
}

// News2Risk returns the RCP clinical risk band of an aggregate NEWS2 score.
// The band is "high" for 7 or more and "medium" for 5 or 6. A lower score is
// "low-medium" when red is True and "low" otherwise, and a red value of
// Unknown counts as no red score. A NaN score returns "unknown".
func News2Risk(score float64, red Truth) string {
	switch {
	case math.IsNaN(score):
		return "unknown"
	case score >= 7:
		return "high"
	case score >= 5:
		return "medium"
	case red == True:
		return "low-medium"
	default:
		return "low"
	}
}

// scoreInputs returns the sum of the scores of the present parameters of in,
// whether any of them scores 3, and whether all five vital signs are
// present. Consciousness and the oxygen flag are always scored, because NaN
// counts as alert and as air.
func scoreInputs(in News2Inputs) (total int, red, complete bool) {
	onOxygen := !math.IsNaN(in.SupplementalO2) && in.SupplementalO2 != 0
	complete = true
	add := func(score int) {
		total += score
		red = red || score == 3
	}
	addVital := func(v float64, score func(float64) int) {
		if math.IsNaN(v) {
			complete = false
			return
		}
		add(score(v))
	}
	addVital(in.RespRate, ScoreRespRate)
	addVital(in.SpO2, func(v float64) int { return ScoreSpO2(v, in.Scale2, onOxygen) })
	addVital(in.SystolicBP, ScoreSystolicBP)
	addVital(in.Pulse, ScorePulse)
	addVital(in.TemperatureC, ScoreTemperature)
	if !math.IsNaN(in.Consciousness) {
		add(ScoreConsciousness(in.Consciousness))
	}
	if onOxygen {
		add(ScoreSupplementalO2(in.SupplementalO2))
	}
	return total, red, complete
}
