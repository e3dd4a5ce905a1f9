package csv_test

import (
	"os"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

// payloadSink keeps benchmark results alive, so that the compiler can
// neither drop the call nor put the payload on the stack.
var payloadSink []byte

func BenchmarkPayload(b *testing.B) {
	rows, _, err := csv.ReadFile("testdata/reordered-columns.csv")
	if err != nil {
		b.Fatal(err)
	}
	row := rows[0]
	receivedAt := time.Date(2026, 3, 10, 13, 15, 5, 123456789, time.UTC)
	b.SetBytes(int64(len(csv.Payload(row, receivedAt))))
	b.ReportAllocs()
	for b.Loop() {
		payloadSink = csv.Payload(row, receivedAt)
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	rows, _, err := csv.ReadFile("testdata/mimic3-demo-first200.csv")
	if err != nil {
		b.Fatal(err)
	}
	receivedAt := time.Date(2026, 3, 10, 13, 15, 5, 0, time.UTC)
	var buffer []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buffer = csv.AppendPayload(buffer[:0], rows[i%len(rows)], receivedAt)
		i++
	}
}

func BenchmarkReadFile(b *testing.B) {
	const path = "testdata/mimic3-demo-first200.csv"
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	b.ReportAllocs()
	rowCount := 0
	for b.Loop() {
		rows, _, err := csv.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		rowCount += len(rows)
	}
	b.ReportMetric(float64(rowCount)/b.Elapsed().Seconds(), "rows/s")
}
