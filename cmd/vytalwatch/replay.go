package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/data"
	"github.com/vytalwatch/vytalwatch/engine"
)

// replayChunk is the maximum of readings one produce call carries, and
// replayChunkBytes the maximum of payload bytes. kfake, like Kafka,
// rejects a partition's batch over its 1 MiB message.max.bytes default,
// and a chunk whose rows belong to few patients lands on few partitions.
const (
	replayChunk      = 5000
	replayChunkBytes = 768 << 10
)

// loadRows reads a vitals CSV as readInput does, for inputs that must be
// whole: a row that cannot be read is an error.
func loadRows(file string) ([]csv.Row, error) {
	rows, bad, err := readInput(file)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %w", file, badRowsError(bad))
	}
	return rows, nil
}

// readInput reads a vitals CSV: a path, or "bundled:NAME" for a data set
// built into the binary. Rows that cannot be read come back as bad, and
// the rest are read.
func readInput(file string) ([]csv.Row, []*csv.RowError, error) {
	name, ok := bundledName(file)
	if !ok {
		return csv.ReadFile(file)
	}
	b, err := data.Bundled(name)
	if err != nil {
		return nil, nil, err
	}
	return csv.ReadAll(bytes.NewReader(b))
}

// maxReportedBadRows is how many bad rows a warning or error lists.
const maxReportedBadRows = 5

// badRowsError lists the first bad rows of an input.
func badRowsError(bad []*csv.RowError) error {
	var b strings.Builder
	if len(bad) == 1 {
		b.WriteString("1 row cannot be read")
	} else {
		fmt.Fprintf(&b, "%d rows cannot be read", len(bad))
	}
	for i, e := range bad {
		if i == maxReportedBadRows {
			fmt.Fprintf(&b, "\n  and %d more", len(bad)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %v", e)
	}
	return errors.New(b.String())
}

// warnBadRows prints a warning that lists the skipped rows of file.
func warnBadRows(w io.Writer, file string, bad []*csv.RowError) {
	if len(bad) > 0 {
		fmt.Fprintf(w, "warning: %s: %v; these rows were skipped and the others read\n", file, badRowsError(bad))
	}
}

func bundledName(file string) (string, bool) {
	const prefix = "bundled:"
	if len(file) > len(prefix) && file[:len(prefix)] == prefix {
		return file[len(prefix):], true
	}
	return "", false
}

// replayRows produces rows to topic in file order, stamping each with the
// clock as received_at.
func replayRows(ctx context.Context, p engine.Producer, topic string, rows []csv.Row, clock engine.Clock, progress func(int)) error {
	records := make([]engine.Record, 0, replayChunk)
	for next := 0; next < len(rows); {
		start := next
		records = records[:0]
		received := clock.Now()
		size := 0
		for ; next < len(rows) && len(records) < replayChunk; next++ {
			row := rows[next]
			value := csv.Payload(row, received)
			if len(value) > kafka.MaxMessageBytes {
				// No broker takes a message this large; the engine would
				// reject it anyway, for its over-long fields.
				slog.Warn("replay skips a row too large for a Kafka message", "line", row.Line, "bytes", len(value))
				continue
			}
			if len(records) > 0 && size+len(value) > replayChunkBytes {
				break
			}
			size += len(value)
			// The record's timestamp is the replay clock too, so that the
			// engine's arrival check agrees with received_at whatever
			// present --now sets.
			records = append(records, engine.Record{Topic: topic, Key: csv.Key(row), Value: value, Time: received})
		}
		if err := p.Produce(ctx, records); err != nil {
			return fmt.Errorf("replay rows %d to %d: %w", start+1, next, err)
		}
		if progress != nil {
			progress(next)
		}
	}
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "vitals CSV to replay (patient_id,time,metric,value,unit,source_row_id), or bundled:mimic or bundled:cgm")
	topic := fs.String("topic", engine.DefaultTopics().Readings, "topic to produce to")
	rebase := fs.Bool("rebase", true, "shift each patient's readings so the newest lands at --now, keeping intervals")
	nowFlag := fs.String("now", "", "the present for rebasing and received_at, RFC 3339 (default: the real time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%w: replay needs --file", errUsage)
	}
	brokers, err := kafka.ParseBrokers(os.Getenv("KAFKA_BROKERS"))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	rows, bad, err := readInput(*file)
	if err != nil {
		return err
	}
	warnBadRows(stderr, *file, bad)
	if *rebase {
		rows = csv.Rebase(rows, now)
	}
	producer := kafka.NewProducer(brokers)
	defer producer.Close()
	started := time.Now()
	if err := replayRows(ctx, producer, *topic, rows, engine.NewOffsetClock(now), nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d readings from %s to %s in %.2f s\n", len(rows), *file, *topic, time.Since(started).Seconds())
	return nil
}

// parseNow parses --now, defaulting to the real time.
func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --now %q is not an RFC 3339 time such as 2026-03-10T12:00:00Z", errUsage, s)
	}
	return t.UTC(), nil
}
