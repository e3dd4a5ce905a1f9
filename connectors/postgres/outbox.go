package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch/engine"
)

// outboxChannel is the LISTEN/NOTIFY channel that wakes the relay when a
// transaction with outbox records commits.
const outboxChannel = "vytalwatch_outbox"

// outboxLockKey is the transaction-level advisory lock that lets one relay
// at a time publish, so records leave in id order even when several
// processes run a relay.
const outboxLockKey = 0x76797461_6f757462 // "vytaoutb"

// enqueue adds a Kafka record to the outbox inside tx; a nil value is a
// tombstone. The record is published only if tx commits.
//
// Records of one key leave in the order their transactions committed,
// because every writer locks the key's row (FOR UPDATE, or the INSERT's
// unique index) before it enqueues, so the later transaction takes its
// outbox id after the earlier one committed.
func enqueue(ctx context.Context, tx pgx.Tx, topic string, key, value []byte) error {
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)`, topic, key, value); err != nil {
		return fmt.Errorf("enqueue %s record: %w", topic, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, outboxChannel); err != nil {
		return fmt.Errorf("notify outbox relay: %w", err)
	}
	return nil
}

// Relay publishes outbox records to Kafka in id order and deletes them
// once the broker has acknowledged them. Delivery is at least once: a
// crash between the produce and the delete publishes the records again,
// and every consumer of these topics treats a repeat as a no-op.
type Relay struct {
	db       *DB
	producer engine.Producer
	logger   *slog.Logger
	// Interval is how often the relay polls when no notification arrives.
	// Defaults to 1s.
	Interval time.Duration
	// BatchSize is the most records one produce call carries. Defaults
	// to 500.
	BatchSize int

	published prometheus.Counter
	failures  prometheus.Counter
}

// NewRelay returns a relay; reg may be nil.
func NewRelay(db *DB, producer engine.Producer, logger *slog.Logger, reg prometheus.Registerer) *Relay {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Relay{
		db: db, producer: producer, logger: logger.With("component", "outbox_relay"),
		Interval: time.Second, BatchSize: 500,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_outbox_published_total", Help: "Outbox records published to Kafka.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_outbox_failures_total", Help: "Outbox publish attempts that failed and will be retried.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.published, r.failures)
	}
	return r
}

// Run publishes until ctx is done: at once when a notification arrives,
// and every Interval otherwise.
func (r *Relay) Run(ctx context.Context) error {
	r.logger.Info("outbox relay started")
	defer r.logger.Info("outbox relay stopped")
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		conn, err := r.db.pool.Acquire(ctx)
		if err != nil {
			backoff = r.failed(ctx, "acquire listener connection", err, backoff)
			continue
		}
		backoff = r.listen(ctx, conn.Conn(), backoff)
		conn.Release()
	}
	return nil
}

// listen runs the publish loop on a connection that LISTENs for outbox
// notifications, until ctx is done or the connection fails.
func (r *Relay) listen(ctx context.Context, conn *pgx.Conn, backoff time.Duration) time.Duration {
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		return r.failed(ctx, "listen for outbox notifications", err, backoff)
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it.
		unlisten, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(unlisten, "UNLISTEN *")
	}()
	for ctx.Err() == nil {
		n, err := r.Flush(ctx)
		if err != nil {
			backoff = r.failed(ctx, "publish outbox", err, backoff)
			continue
		}
		if backoff > 0 {
			r.logger.Info("outbox relay recovered")
			backoff = 0
		}
		if n == r.BatchSize {
			continue
		}
		wait, cancel := context.WithTimeout(ctx, r.Interval)
		_, err = conn.WaitForNotification(wait)
		cancel()
		if err != nil && wait.Err() == nil {
			return r.failed(ctx, "wait for outbox notification", err, backoff)
		}
	}
	return backoff
}

// failed logs a failure once per backoff step and sleeps: 100ms doubling
// to 10s.
func (r *Relay) failed(ctx context.Context, op string, err error, backoff time.Duration) time.Duration {
	if ctx.Err() != nil {
		return backoff
	}
	r.failures.Inc()
	backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
	r.logger.Warn("outbox relay failed; retrying", "operation", op, "error", err, "retry_in", backoff)
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return backoff
}

// Flush publishes up to BatchSize of the oldest records and deletes them,
// and returns how many it published. It returns 0 while another relay
// holds the outbox.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	n := 0
	err := r.db.inTx(ctx, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(outboxLockKey)).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1`, r.BatchSize)
		if err != nil {
			return err
		}
		var ids []int64
		var records []engine.Record
		for rows.Next() {
			var id int64
			var rec engine.Record
			if err := rows.Scan(&id, &rec.Topic, &rec.Key, &rec.Value); err != nil {
				return err
			}
			ids = append(ids, id)
			records = append(records, rec)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(records) == 0 {
			return nil
		}
		if err := r.producer.Produce(ctx, records); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
			return err
		}
		n = len(records)
		return nil
	})
	if err != nil {
		return 0, err
	}
	r.published.Add(float64(n))
	return n, nil
}

// PendingOutbox returns how many records wait to be published.
func (db *DB) PendingOutbox(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}
