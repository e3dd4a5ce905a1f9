package kafka

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/vytalwatch/vytalwatch/engine"
)

// MaxMessageBytes bounds one produce batch per partition, under the
// brokers' default message.max.bytes of 1 MiB with room for headers.
const MaxMessageBytes = 900 << 10

// Producer writes records with acknowledgement from all in-sync replicas.
// Keyed records are partitioned with murmur2, as Java clients do, so that
// a patient's outputs land on the partition number of the patient's input.
type Producer struct {
	w *kafkago.Writer
}

// NewProducer returns a producer for the brokers.
func NewProducer(brokers []string) *Producer {
	return newProducer(brokers, 3)
}

// NewSingleAttemptProducer returns a producer that sends each request
// once. A caller that must not write a record twice checks the end
// offsets after an error and resends only what is missing, since a retry
// of a request whose reply was lost duplicates it.
func NewSingleAttemptProducer(brokers []string) *Producer {
	return newProducer(brokers, 1)
}

// PartitionOf returns the partition that Producer writes a record with
// key to, in a topic of the given number of partitions.
func PartitionOf(key []byte, partitions int) int {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: key}, ids...)
}

func newProducer(brokers []string, attempts int) *Producer {
	return &Producer{w: &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		// A short batch timeout: callers wait for their records, and the
		// default of one second would stall every engine batch.
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    5000,
		// Brokers reject a partition's batch over message.max.bytes, 1 MiB
		// by default in Kafka and in the embedded broker; a retry would
		// fail the same way forever.
		BatchBytes:   MaxMessageBytes,
		MaxAttempts:  attempts,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
	}}
}

// Produce writes the records and returns once all are acknowledged.
func (p *Producer) Produce(ctx context.Context, records []engine.Record) error {
	if len(records) == 0 {
		return nil
	}
	msgs := make([]kafkago.Message, len(records))
	for i, r := range records {
		msgs[i] = kafkago.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Time: r.Time}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce %d records: %w", len(records), err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.w.Close() }
