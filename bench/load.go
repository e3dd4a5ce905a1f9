// Package bench generates realistic monitoring load and measures the
// engine on it: readings per second end to end through the embedded
// broker and through the engine alone, with CPU time and peak memory.
// The vytalwatch bench command drives it and writes RESULTS.md.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

// timeLayout has fixed-width fractions, so times sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// LoadConfig describes a synthetic population.
type LoadConfig struct {
	// Patients is the number of home-monitored patients.
	Patients int
	// Days is how many days of history end at Now.
	Days int
	// WearablePatients also wear a 1 Hz heart-rate sensor for
	// WearableMinutes before Now.
	WearablePatients int
	WearableMinutes  int
	Now              time.Time
	Seed             uint64
}

// Generate returns the readings of the population in arrival order: by
// time, each device uploading as it measures.
func Generate(cfg LoadConfig) []csv.Row {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	start := cfg.Now.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	var rows []csv.Row
	for p := 0; p < cfg.Patients; p++ {
		rows = append(rows, homePatient(rng, fmt.Sprintf("P%06d", p), start, cfg.Days)...)
	}
	for p := 0; p < cfg.WearablePatients; p++ {
		rows = append(rows, wearable(rng, fmt.Sprintf("P%06d", p), cfg.Now, cfg.WearableMinutes)...)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time < rows[j].Time })
	for i := range rows {
		rows[i].SourceRowID = strconv.Itoa(i + 1)
		rows[i].Line = i + 2
	}
	return rows
}

// homePatient returns a patient's cuff, oximeter, scale and glucometer
// readings: twice-daily blood pressure with pulse, a daily weight and
// SpO2, and glucose three times a day for every third patient.
func homePatient(rng *rand.Rand, id string, start time.Time, days int) []csv.Row {
	sys := 115 + rng.Float64()*40
	weight := 60 + rng.Float64()*50
	diabetic := rng.IntN(3) == 0
	var rows []csv.Row
	for d := 0; d < days; d++ {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for _, hour := range []float64{7.5, 19.5} {
			at := day.Add(time.Duration((hour + rng.Float64()) * float64(time.Hour)))
			s := sys + rng.NormFloat64()*10 + spike(rng, 0.02, 45)
			dia := s*0.6 + rng.NormFloat64()*5
			rows = append(rows,
				row(id, "cuff-"+id, at, "systolic_bp", s, "mmHg"),
				row(id, "cuff-"+id, at, "diastolic_bp", dia, "mmHg"),
				row(id, "cuff-"+id, at, "heart_rate", 72+rng.NormFloat64()*12+spike(rng, 0.02, 50), "bpm"))
		}
		morning := day.Add(time.Duration((7 + rng.Float64()) * float64(time.Hour)))
		weight += rng.NormFloat64() * 0.3
		rows = append(rows,
			row(id, "scale-"+id, morning, "weight_kg", weight, "kg"),
			row(id, "ox-"+id, morning.Add(5*time.Minute), "spo2", math.Min(100, 97+rng.NormFloat64()*1.5-spike(rng, 0.03, 8)), "%"))
		if diabetic {
			for _, hour := range []float64{7, 12.5, 18.5} {
				at := day.Add(time.Duration((hour + rng.Float64()) * float64(time.Hour)))
				rows = append(rows, row(id, "gluco-"+id, at, "glucose_mg_dl", 140+rng.NormFloat64()*45, "mg/dL"))
			}
		}
	}
	return rows
}

// wearable returns one reading a second of heart rate.
func wearable(rng *rand.Rand, id string, now time.Time, minutes int) []csv.Row {
	rows := make([]csv.Row, 0, minutes*60)
	hr := 70.0
	start := now.Add(-time.Duration(minutes) * time.Minute)
	for s := 0; s < minutes*60; s++ {
		hr += (72-hr)*0.01 + rng.NormFloat64()*0.8
		rows = append(rows, row(id, "watch-"+id, start.Add(time.Duration(s)*time.Second), "heart_rate", hr, "bpm"))
	}
	return rows
}

// spike returns size with probability p, else 0: the occasional abnormal
// value that makes rules fire.
func spike(rng *rand.Rand, p, size float64) float64 {
	if rng.Float64() < p {
		return size
	}
	return 0
}

func row(patient, device string, at time.Time, metric string, value float64, unit string) csv.Row {
	return csv.Row{
		PatientID: patient, DeviceID: device, Time: at.UTC().Format(timeLayout), Metric: metric,
		Value: strconv.FormatFloat(math.Round(value*10)/10, 'f', -1, 64), Unit: unit,
	}
}
