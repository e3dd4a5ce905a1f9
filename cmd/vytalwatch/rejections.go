package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
)

// reasonMalformedRow is the rejection reason of a CSV row that could not
// be read. Such a row never reaches the engine, so the demo counts it.
const reasonMalformedRow = "malformed_row"

// rejection is one line of the demo's --rejections file: a row that the
// reader or the engine rejected, located in the input.
type rejection struct {
	// Line is the row's line in the input, 0 when it is unknown.
	Line        int    `json:"line,omitempty"`
	SourceRowID string `json:"source_row_id,omitempty"`
	PatientID   string `json:"patient_id,omitempty"`
	Reason      string `json:"reason"`
	Field       string `json:"field,omitempty"`
	Value       string `json:"value,omitempty"`
	Message     string `json:"message"`
	// TimeInFile is the row's time as the file has it, for a rejected
	// time that rebasing moved; Value and Message show the moved time.
	TimeInFile string `json:"time_in_file,omitempty"`
}

// writeRejections writes the rows that could not be read and the
// readings that the engine dead-lettered, ordered by line.
func (d *demo) writeRejections(ctx context.Context) error {
	var out []rejection
	for _, bad := range d.badRows {
		out = append(out, rejection{Line: bad.Line, Reason: reasonMalformedRow, Message: bad.Problem})
	}
	dead, err := d.deadLetters(ctx)
	if err != nil {
		return err
	}
	out = append(out, dead...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })

	f, err := os.Create(d.opts.rejections)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range out {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// deadLetters reads the dead-letter topic. Each dead letter is located
// by its patient and source row id. The topic may hold one twice after a
// crash, so each is kept once.
func (d *demo) deadLetters(ctx context.Context) ([]rejection, error) {
	msgs, err := kafka.ReadAll(ctx, d.broker.Brokers(), d.topics.DeadLetter)
	if err != nil {
		return nil, err
	}
	lines := make(map[string]int, len(d.rows))
	for _, row := range d.rows {
		key := row.PatientID + "\x00" + row.SourceRowID
		if _, ok := lines[key]; !ok {
			lines[key] = row.Line
		}
	}
	seen := map[string]bool{}
	var out []rejection
	for _, m := range msgs {
		var dl vytalwatch.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			return nil, fmt.Errorf("decode dead letter at %s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		id := fmt.Sprintf("%s/%d/%d", dl.Topic, dl.Partition, dl.Offset)
		if seen[id] {
			continue
		}
		seen[id] = true
		var reading struct {
			SourceRef string `json:"source_ref"`
		}
		_ = json.Unmarshal([]byte(dl.Payload), &reading) // a payload that is not JSON has no row id
		r := rejection{Line: lines[dl.Key+"\x00"+reading.SourceRef], SourceRowID: reading.SourceRef, PatientID: dl.Key,
			Reason: dl.Reason, Field: dl.Field, Value: dl.Value, Message: dl.Message}
		if dl.Field == "measured_at" {
			r.TimeInFile = d.fileTimes[r.Line]
		}
		out = append(out, r)
	}
	return out, nil
}
