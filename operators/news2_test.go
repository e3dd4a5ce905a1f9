package operators_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/vytalwatch/vytalwatch/operators"
)

// scoreCase is one reading and its expected NEWS2 parameter score.
type scoreCase struct {
	value float64
	want  int
}

func checkScores(t *testing.T, name string, score func(float64) int, tests []scoreCase) {
	t.Helper()
	for _, tc := range tests {
		if got := score(tc.value); got != tc.want {
			t.Errorf("%s(%v) = %d, want %d", name, tc.value, got, tc.want)
		}
	}
}

func TestScoreRespRateBoundaries(t *testing.T) {
	checkScores(t, "ScoreRespRate", operators.ScoreRespRate, []scoreCase{
		{0, 3}, {8, 3}, {9, 1}, {11, 1}, {12, 0}, {20, 0},
		{21, 2}, {24, 2}, {25, 3}, {40, 3},
	})
}

func TestScoreRespRateRounding(t *testing.T) {
	checkScores(t, "ScoreRespRate", operators.ScoreRespRate, []scoreCase{
		{8.49, 3}, {8.5, 1}, {11.49, 1}, {11.5, 0},
		{20.4, 0}, {20.5, 2}, {24.49, 2}, {24.5, 3},
	})
}

func TestScoreSpO2Scale1Boundaries(t *testing.T) {
	for _, onOxygen := range []bool{false, true} {
		name := fmt.Sprintf("ScoreSpO2(scale 1, oxygen %v)", onOxygen)
		score := func(v float64) int { return operators.ScoreSpO2(v, false, onOxygen) }
		checkScores(t, name, score, []scoreCase{
			{85, 3}, {89, 3}, {91, 3}, {92, 2}, {93, 2}, {94, 1},
			{95, 1}, {96, 0}, {100, 0}, {91.49, 3}, {91.5, 2}, {95.5, 0},
		})
	}
}

func TestScoreSpO2Scale2OnAir(t *testing.T) {
	score := func(v float64) int { return operators.ScoreSpO2(v, true, false) }
	checkScores(t, "ScoreSpO2(scale 2, air)", score, []scoreCase{
		{80, 3}, {83, 3}, {84, 2}, {85, 2}, {86, 1}, {87, 1},
		{88, 0}, {89, 0}, {92, 0}, {93, 0}, {97, 0}, {100, 0},
		{83.49, 3}, {83.5, 2}, {87.5, 0},
	})
}

func TestScoreSpO2Scale2OnOxygen(t *testing.T) {
	score := func(v float64) int { return operators.ScoreSpO2(v, true, true) }
	checkScores(t, "ScoreSpO2(scale 2, oxygen)", score, []scoreCase{
		{83, 3}, {84, 2}, {85, 2}, {86, 1}, {87, 1}, {88, 0},
		{92, 0}, {93, 1}, {94, 1}, {95, 2}, {96, 2}, {97, 3}, {100, 3},
		{92.49, 0}, {92.5, 1}, {96.5, 3},
	})
}

func TestScoreSpO2ScaleChangesScore(t *testing.T) {
	if got := operators.ScoreSpO2(89, true, false); got != 0 {
		t.Errorf("ScoreSpO2(89, scale 2) = %d, want 0", got)
	}
	if got := operators.ScoreSpO2(89, false, false); got != 3 {
		t.Errorf("ScoreSpO2(89, scale 1) = %d, want 3", got)
	}
}

func TestScoreSystolicBPBoundaries(t *testing.T) {
	checkScores(t, "ScoreSystolicBP", operators.ScoreSystolicBP, []scoreCase{
		{60, 3}, {90, 3}, {91, 2}, {100, 2}, {101, 1}, {110, 1},
		{111, 0}, {219, 0}, {220, 3}, {260, 3},
		{90.49, 3}, {90.5, 2}, {219.49, 0}, {219.5, 3},
	})
}

func TestScorePulseBoundaries(t *testing.T) {
	checkScores(t, "ScorePulse", operators.ScorePulse, []scoreCase{
		{30, 3}, {40, 3}, {41, 1}, {50, 1}, {51, 0}, {90, 0},
		{91, 1}, {110, 1}, {111, 2}, {130, 2}, {131, 3}, {180, 3},
		{90.4, 0}, {90.5, 1}, {40.5, 1}, {130.5, 3},
	})
}

func TestScoreTemperatureBoundaries(t *testing.T) {
	checkScores(t, "ScoreTemperature", operators.ScoreTemperature, []scoreCase{
		{34, 3}, {35.0, 3}, {35.1, 1}, {36.0, 1}, {36.1, 0}, {38.0, 0},
		{38.1, 1}, {39.0, 1}, {39.1, 2}, {42, 2},
	})
}

func TestScoreTemperatureRounding(t *testing.T) {
	checkScores(t, "ScoreTemperature", operators.ScoreTemperature, []scoreCase{
		{35.04, 3}, {35.05, 1}, {36.04, 1}, {36.05, 0},
		{38.04, 0}, {38.05, 1}, {39.04, 1}, {39.05, 2},
	})
}

// TestScoreTemperatureHalfTenths checks that every reading typed with a
// final 5 in the hundredths rounds up, although many such decimals are
// stored slightly below their typed value.
func TestScoreTemperatureHalfTenths(t *testing.T) {
	for tenths := 250; tenths < 460; tenths++ {
		typed := fmt.Sprintf("%d.%d5", tenths/10, tenths%10)
		var value float64
		if _, err := fmt.Sscan(typed, &value); err != nil {
			t.Fatalf("parse %s: %v", typed, err)
		}
		roundedUp := float64(tenths+1) / 10
		if got, want := operators.ScoreTemperature(value), operators.ScoreTemperature(roundedUp); got != want {
			t.Errorf("ScoreTemperature(%s) = %d, want %d as for %.1f", typed, got, want, roundedUp)
		}
	}
}

func TestScoreConsciousness(t *testing.T) {
	checkScores(t, "ScoreConsciousness", operators.ScoreConsciousness, []scoreCase{
		{0, 0}, {1, 3},
	})
}

func TestScoreSupplementalO2(t *testing.T) {
	checkScores(t, "ScoreSupplementalO2", operators.ScoreSupplementalO2, []scoreCase{
		{0, 0}, {1, 2},
	})
}

// normal returns inputs with all five vital signs present and scoring 0,
// on air and alert.
func normal() operators.News2Inputs {
	return operators.News2Inputs{
		RespRate:       16,
		SpO2:           97,
		SystolicBP:     125,
		Pulse:          72,
		TemperatureC:   36.8,
		Consciousness:  0,
		SupplementalO2: 0,
	}
}

// missing returns inputs with every reading NaN.
func missing() operators.News2Inputs {
	nan := math.NaN()
	return operators.News2Inputs{
		RespRate:       nan,
		SpO2:           nan,
		SystolicBP:     nan,
		Pulse:          nan,
		TemperatureC:   nan,
		Consciousness:  nan,
		SupplementalO2: nan,
	}
}

// news2Case is one set of inputs with the expected aggregate score, where
// NaN expects NaN, and the expected red-score result.
type news2Case struct {
	name    string
	in      operators.News2Inputs
	want    float64
	wantRed operators.Truth
}

func news2Cases() []news2Case {
	nan := math.NaN()
	with := func(change func(*operators.News2Inputs)) operators.News2Inputs {
		in := normal()
		change(&in)
		return in
	}
	onlyRespRate := missing()
	onlyRespRate.RespRate = 26
	onlyConfusion := missing()
	onlyConfusion.Consciousness = 1
	allAbnormal := operators.News2Inputs{
		RespRate: 30, SpO2: 85, SystolicBP: 80, Pulse: 140,
		TemperatureC: 34, Consciousness: 1, SupplementalO2: 1,
	}
	return []news2Case{
		{"all normal", normal(), 0, operators.False},
		{"all missing", missing(), nan, operators.Unknown},
		{"respiration rate missing", with(func(in *operators.News2Inputs) { in.RespRate = nan }), nan, operators.Unknown},
		{"SpO2 missing", with(func(in *operators.News2Inputs) { in.SpO2 = nan }), nan, operators.Unknown},
		{"systolic missing", with(func(in *operators.News2Inputs) { in.SystolicBP = nan }), nan, operators.Unknown},
		{"pulse missing", with(func(in *operators.News2Inputs) { in.Pulse = nan }), nan, operators.Unknown},
		{"temperature missing", with(func(in *operators.News2Inputs) { in.TemperatureC = nan }), nan, operators.Unknown},
		{"only respiration rate 26", onlyRespRate, nan, operators.True},
		{"only consciousness 1", onlyConfusion, nan, operators.True},
		{"pulse missing, RR 26", with(func(in *operators.News2Inputs) {
			in.Pulse = nan
			in.RespRate = 26
		}), nan, operators.True},
		{"respiration rate 26", with(func(in *operators.News2Inputs) { in.RespRate = 26 }), 3, operators.True},
		{"consciousness 1", with(func(in *operators.News2Inputs) { in.Consciousness = 1 }), 3, operators.True},
		{"consciousness NaN", with(func(in *operators.News2Inputs) { in.Consciousness = nan }), 0, operators.False},
		{"oxygen", with(func(in *operators.News2Inputs) { in.SupplementalO2 = 1 }), 2, operators.False},
		{"oxygen NaN", with(func(in *operators.News2Inputs) { in.SupplementalO2 = nan }), 0, operators.False},
		{"temperature 39.5", with(func(in *operators.News2Inputs) { in.TemperatureC = 39.5 }), 2, operators.False},
		{"several twos", with(func(in *operators.News2Inputs) {
			in.Pulse = 115
			in.SystolicBP = 95
			in.RespRate = 22
		}), 6, operators.False},
		{"scale 2, SpO2 89", with(func(in *operators.News2Inputs) { in.Scale2 = true; in.SpO2 = 89 }), 0, operators.False},
		{"scale 1, SpO2 89", with(func(in *operators.News2Inputs) { in.SpO2 = 89 }), 3, operators.True},
		{"scale 2, SpO2 97 on oxygen", with(func(in *operators.News2Inputs) {
			in.Scale2 = true
			in.SpO2 = 97
			in.SupplementalO2 = 1
		}), 5, operators.True},
		{"scale 2, SpO2 97, oxygen NaN", with(func(in *operators.News2Inputs) {
			in.Scale2 = true
			in.SpO2 = 97
			in.SupplementalO2 = nan
		}), 0, operators.False},
		{"all abnormal", allAbnormal, 20, operators.True},
	}
}

func TestNews2(t *testing.T) {
	for _, tc := range news2Cases() {
		got := operators.News2(tc.in)
		if math.IsNaN(tc.want) {
			if !math.IsNaN(got) {
				t.Errorf("News2(%s) = %v, want NaN", tc.name, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("News2(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNews2Red(t *testing.T) {
	for _, tc := range news2Cases() {
		if got := operators.News2Red(tc.in); got != tc.wantRed {
			t.Errorf("News2Red(%s) = %v, want %v", tc.name, got, tc.wantRed)
		}
	}
}

func TestNews2Risk(t *testing.T) {
	tests := []struct {
		score float64
		red   operators.Truth
		want  string
	}{
		{math.NaN(), operators.True, "unknown"},
		{math.NaN(), operators.Unknown, "unknown"},
		{0, operators.False, "low"},
		{4, operators.False, "low"},
		{4, operators.Unknown, "low"},
		{3, operators.True, "low-medium"},
		{4, operators.True, "low-medium"},
		{5, operators.False, "medium"},
		{5, operators.True, "medium"},
		{6, operators.True, "medium"},
		{7, operators.False, "high"},
		{7, operators.True, "high"},
		{20, operators.True, "high"},
	}
	for _, tc := range tests {
		if got := operators.News2Risk(tc.score, tc.red); got != tc.want {
			t.Errorf("News2Risk(%v, %v) = %q, want %q", tc.score, tc.red, got, tc.want)
		}
	}
}

func ExampleNews2Risk() {
	in := operators.News2Inputs{
		RespRate:       26,
		SpO2:           97,
		SystolicBP:     125,
		Pulse:          72,
		TemperatureC:   36.8,
		Consciousness:  0,
		SupplementalO2: 0,
	}
	score := operators.News2(in)
	red := operators.News2Red(in)
	fmt.Println(score, red, operators.News2Risk(score, red))
	// Output: 3 true low-medium
}

func FuzzNews2(f *testing.F) {
	f.Add(16.0, 97.0, 125.0, 72.0, 36.8, 0.0, 0.0, false)
	f.Add(26.0, math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), false)
	f.Add(30.0, 85.0, 80.0, 140.0, 34.0, 1.0, 1.0, true)
	f.Add(math.Inf(1), math.Inf(-1), -1.0, 1e308, -1e308, 0.5, -3.0, true)
	f.Fuzz(func(t *testing.T, respRate, spO2, systolic, pulse, temperature, consciousness, oxygen float64, scale2 bool) {
		in := operators.News2Inputs{
			RespRate:       respRate,
			SpO2:           spO2,
			SystolicBP:     systolic,
			Pulse:          pulse,
			TemperatureC:   temperature,
			Consciousness:  consciousness,
			SupplementalO2: oxygen,
			Scale2:         scale2,
		}
		score := operators.News2(in)
		if math.IsNaN(score) {
			return
		}
		if score < 0 || score > 20 {
			t.Errorf("News2(%+v) = %v, want NaN or 0 to 20", in, score)
		}
		if score != math.Trunc(score) {
			t.Errorf("News2(%+v) = %v, want a whole number", in, score)
		}
	})
}

func BenchmarkNews2(b *testing.B) {
	in := normal()
	in.RespRate = 22
	in.Pulse = 115
	for b.Loop() {
		operators.News2(in)
	}
}
