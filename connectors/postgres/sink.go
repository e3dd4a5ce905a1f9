package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
)

// Sink copies one Kafka topic into Postgres. Each batch of a partition is
// applied in one transaction together with the partition's next offset,
// so a batch is stored whole or not at all, and a restart resumes right
// after the last stored batch. Apply must be idempotent anyway: a
// rebalance can hand a partition to another instance while the old one
// finishes its batch.
//
// A batch that fails with a data error (SQLSTATE class 22 or 23) is
// applied again one message at a time. A message that still fails with a
// data error is logged, counted and skipped, so that one record Postgres
// cannot store does not stall its partition. Other errors, such as a lost
// connection, are retried with backoff.
type Sink struct {
	// Name identifies the sink's offsets and metrics.
	Name  string
	Topic string
	// Apply writes a batch inside tx.
	Apply func(ctx context.Context, tx pgx.Tx, msgs []engine.Message) error
	// BatchSize is the most messages one transaction applies. Defaults
	// to 1000.
	BatchSize int
}

// SinkMetrics counts what sinks do; register it once per registry.
type SinkMetrics struct {
	messages *prometheus.CounterVec
	failures *prometheus.CounterVec
	skipped  *prometheus.CounterVec
}

// NewSinkMetrics creates the sink metrics on reg, which may be nil.
func NewSinkMetrics(reg prometheus.Registerer) *SinkMetrics {
	m := &SinkMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_sink_messages_total", Help: "Messages stored by each Postgres sink.",
		}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_sink_failures_total", Help: "Batches a Postgres sink failed to store and retried.",
		}, []string{"sink"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_sink_skipped_messages_total",
			Help: "Messages a Postgres sink skipped because Postgres rejected their data, by SQLSTATE.",
		}, []string{"sink", "sqlstate"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.failures, m.skipped)
	}
	return m
}

// RunSink consumes the sink's topic as a member of consumer's group until
// ctx is done. Each generation runs one task per assigned partition.
func (db *DB) RunSink(ctx context.Context, consumer engine.Consumer, s Sink, metrics *SinkMetrics) error {
	if s.BatchSize == 0 {
		s.BatchSize = 1000
	}
	if metrics == nil {
		metrics = NewSinkMetrics(nil)
	}
	logger := db.baseLogger.With("component", "sink", "sink", s.Name, "topic", s.Topic)
	logger.Info("sink started")
	defer logger.Info("sink stopped")
	backoff := time.Duration(0)
	for {
		gen, err := consumer.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			logger.Warn("join consumer group failed; retrying", "error", err, "retry_in", backoff)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		parts := gen.Partitions()
		logger.Info("sink generation started", "partitions", parts)
		var done sync.WaitGroup
		done.Add(1)
		// kafka-go ends a generation as soon as any function started on
		// it returns, so all partitions run under one function.
		gen.Start(func(genCtx context.Context) {
			defer done.Done()
			// Tasks end with the generation or when the sink stops.
			genCtx, cancel := context.WithCancel(genCtx)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			var wg sync.WaitGroup
			for _, p := range parts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t := sinkTask{db: db, sink: s, gen: gen, partition: p, metrics: metrics, logger: logger.With("partition", p)}
					t.run(genCtx)
				}()
			}
			wg.Wait()
		})
		done.Wait()
	}
}

type sinkTask struct {
	db        *DB
	sink      Sink
	gen       engine.Generation
	partition int
	metrics   *SinkMetrics
	logger    *slog.Logger
}

// run applies the partition's messages until ctx ends. Failures are
// retried with backoff. Only storeEach skips messages, for data errors.
func (t *sinkTask) run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := t.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		t.metrics.failures.WithLabelValues(t.sink.Name).Inc()
		backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		t.logger.Warn("sink partition failed; retrying", "error", err, "retry_in", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
	}
}

// consume reads from the stored offset and applies batches until ctx ends
// or something fails.
func (t *sinkTask) consume(ctx context.Context) error {
	var next int64
	err := t.db.pool.QueryRow(ctx, `SELECT next_offset FROM sink_offsets WHERE sink = $1 AND topic = $2 AND partition = $3`,
		t.sink.Name, t.sink.Topic, t.partition).Scan(&next)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read stored offset: %w", err)
	}
	r, err := t.gen.OpenReader(t.sink.Topic, t.partition, next)
	if err != nil {
		return err
	}
	defer r.Close()

	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan engine.Message, t.sink.BatchSize)
	fetchErr := make(chan error, 1)
	go func() {
		for {
			m, err := r.Fetch(fetchCtx)
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-fetchCtx.Done():
				fetchErr <- fetchCtx.Err()
				return
			}
		}
	}()
	batch := make([]engine.Message, 0, t.sink.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fetchErr:
			return fmt.Errorf("fetch: %w", err)
		case m := <-msgs:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < t.sink.BatchSize {
				select {
				case m := <-msgs:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := t.store(ctx, batch); err != nil {
				return err
			}
		}
	}
}

// store applies a batch and records the next offset in one transaction,
// then reports the offset to the group for lag monitoring. A batch that
// fails with a data error goes to storeEach.
func (t *sinkTask) store(ctx context.Context, batch []engine.Message) error {
	next := batch[len(batch)-1].Offset + 1
	err := t.apply(ctx, batch)
	if _, ok := isDataError(err); ok {
		err = t.storeEach(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("store batch ending at offset %d: %w", next-1, err)
	}
	if err := t.gen.Commit(t.partition, map[string]int64{t.sink.Topic: next}); err != nil {
		t.logger.Debug("commit offset to group failed", "error", err)
	}
	return nil
}

// apply stores msgs and the offset after the last of them in one
// transaction.
func (t *sinkTask) apply(ctx context.Context, msgs []engine.Message) error {
	err := t.db.inTx(ctx, func(tx pgx.Tx) error {
		if err := t.sink.Apply(ctx, tx, msgs); err != nil {
			return err
		}
		return t.saveOffset(ctx, tx, msgs[len(msgs)-1].Offset+1)
	})
	if err == nil {
		t.metrics.messages.WithLabelValues(t.sink.Name).Add(float64(len(msgs)))
	}
	return err
}

// saveOffset records next as the partition's next offset; an older
// offset never replaces a newer one.
func (t *sinkTask) saveOffset(ctx context.Context, tx pgx.Tx, next int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO sink_offsets (sink, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sink, topic, partition) DO UPDATE SET next_offset = greatest(sink_offsets.next_offset, EXCLUDED.next_offset)`,
		t.sink.Name, t.sink.Topic, t.partition, next)
	return err
}

// storeEach stores msgs one transaction each and skips a message whose
// own transaction fails with a data error. The skip is counted and logged
// with the offset and SQLSTATE but not the content, which may identify a
// patient. The offset after the message is stored, so the partition moves
// past it. Any other error ends storeEach, and the task retries from the
// stored offset.
func (t *sinkTask) storeEach(ctx context.Context, msgs []engine.Message) error {
	for i := range msgs {
		m := msgs[i]
		err := t.apply(ctx, msgs[i:i+1])
		pgErr, isData := isDataError(err)
		if !isData {
			if err != nil {
				return fmt.Errorf("store message at offset %d: %w", m.Offset, err)
			}
			continue
		}
		t.metrics.skipped.WithLabelValues(t.sink.Name, pgErr.Code).Inc()
		t.logger.Error("skipping message that Postgres cannot store", "offset", m.Offset, "sqlstate", pgErr.Code,
			"reason", pgErr.Message, "table", pgErr.TableName, "column", pgErr.ColumnName, "constraint", pgErr.ConstraintName)
		err = t.db.inTx(ctx, func(tx pgx.Tx) error { return t.saveOffset(ctx, tx, m.Offset+1) })
		if err != nil {
			return fmt.Errorf("store the offset after skipped message %d: %w", m.Offset, err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// AlertSink stores alert events from vitals.alerts: every event once by
// its id, and the alert row of each firing kept up to date. Messages that
// are not alert events are logged and skipped.
func (db *DB) AlertSink(topic string) Sink {
	logger := db.baseLogger.With("component", "sink", "sink", "alerts")
	return Sink{Name: "alerts", Topic: topic, Apply: func(ctx context.Context, tx pgx.Tx, msgs []engine.Message) error {
		for _, m := range msgs {
			var ev vytalwatch.AlertEvent
			if err := json.Unmarshal(m.Value, &ev); err != nil || ev.EventID == "" || ev.Kind == "" {
				logger.Warn("skipping message that is not an alert event", "partition", m.Partition, "offset", m.Offset, "error", err)
				continue
			}
			if ev.Kind != vytalwatch.AlertFired && ev.FiredEventID == "" {
				logger.Warn("skipping alert event without fired_event_id", "event_id", ev.EventID, "kind", ev.Kind)
				continue
			}
			if _, err := applyAlertEvent(ctx, tx, ev, m.Value); err != nil {
				return err
			}
		}
		return nil
	}}
}

// BillingSink stores vitals.billing-events: the newest eligibility
// snapshot of each patient's month, whose review it keeps up to date, and
// the events of billing rules once each. Older and repeated snapshots
// change nothing; messages of unknown kinds are logged and skipped.
func (db *DB) BillingSink(topic string) Sink {
	logger := db.baseLogger.With("component", "sink", "sink", "billing")
	return Sink{Name: "billing", Topic: topic, Apply: func(ctx context.Context, tx pgx.Tx, msgs []engine.Message) error {
		return applyBillingEvents(ctx, tx, msgs, logger)
	}}
}

// ReadingSink keeps the newest reading of each metric per patient from
// vitals.readings. Readings are validated as the engine validates them;
// rejected ones are skipped, and each component of a blood-pressure
// reading is stored under its own metric. Newest is by measured_at, then
// by reading id, so the result does not depend on arrival order.
func (db *DB) ReadingSink(topic string, cfg vytalwatch.ValidationConfig) Sink {
	return Sink{Name: "latest_readings", Topic: topic, Apply: func(ctx context.Context, tx pgx.Tx, msgs []engine.Message) error {
		type key struct{ patient, metric string }
		newest := map[key]store.LatestReading{}
		var order []key
		for _, m := range msgs {
			r, rej := vytalwatch.DecodeReading(m.Value, m.Time, cfg)
			if rej != nil {
				continue
			}
			id := r.Identity().String()
			for _, c := range components(r) {
				k := key{r.PatientID, c.Metric}
				old, seen := newest[k]
				if !seen {
					order = append(order, k)
				}
				if !seen || r.MeasuredAt.After(old.MeasuredAt) || (r.MeasuredAt.Equal(old.MeasuredAt) && id > old.ReadingID) {
					newest[k] = store.LatestReading{Metric: c.Metric, Value: c.Value, Unit: c.Unit, MeasuredAt: r.MeasuredAt, ReadingID: id}
				}
			}
		}
		batch := &pgx.Batch{}
		for _, k := range order {
			l := newest[k]
			batch.Queue(`INSERT INTO latest_readings (patient_id, metric, value, unit, measured_at, reading_id)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (patient_id, metric) DO UPDATE SET value = EXCLUDED.value, unit = EXCLUDED.unit,
					measured_at = EXCLUDED.measured_at, reading_id = EXCLUDED.reading_id, updated_at = now()
				WHERE (latest_readings.measured_at, latest_readings.reading_id) < (EXCLUDED.measured_at, EXCLUDED.reading_id)`,
				k.patient, l.Metric, l.Value, l.Unit, l.MeasuredAt, l.ReadingID)
		}
		return tx.SendBatch(ctx, batch).Close()
	}}
}

// components returns a reading's values with their units: one per
// component of a composite reading.
func components(r vytalwatch.Reading) []vytalwatch.Component {
	if len(r.Components) > 0 {
		return r.Components
	}
	return []vytalwatch.Component{{Metric: r.Metric, Value: r.Value, Unit: r.Unit}}
}
