// Package kafka adapts Kafka, through segmentio/kafka-go, to the engine's
// consumer, reader and producer interfaces, and provides topic
// administration and whole-topic reads for tools.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Topic is a topic to create.
type Topic struct {
	Name       string
	Partitions int
	// Compact sets cleanup.policy=compact, for topics read as tables
	// (rules, changelog, patients).
	Compact bool
}

// ParseBrokers splits a comma-separated broker list, as KAFKA_BROKERS
// holds it.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("broker address %q is not host:port: %w", b, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no broker address given; set KAFKA_BROKERS to host:port[,host:port]")
	}
	return out, nil
}

// EnsureTopics creates the topics that do not exist yet. An existing topic
// with another partition count is an error, because the engine needs its
// input topics co-partitioned.
func EnsureTopics(ctx context.Context, brokers []string, topics []Topic) error {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		cfg := kafkago.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: 1}
		if t.Compact {
			cfg.ConfigEntries = []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		req.Topics = append(req.Topics, cfg)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, terr)
		}
	}
	return checkPartitions(ctx, client, topics)
}

func checkPartitions(ctx context.Context, client *kafkago.Client, topics []Topic) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("read topic metadata: %w", err)
	}
	want := map[string]int{}
	for _, t := range topics {
		want[t.Name] = t.Partitions
	}
	var errs []error
	for _, t := range meta.Topics {
		if t.Error != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, t.Error))
			continue
		}
		if n := want[t.Name]; n > 0 && len(t.Partitions) != n {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions, not %d; co-partitioned topics need the same count", t.Name, len(t.Partitions), n))
		}
	}
	return errors.Join(errs...)
}

// EndOffsets returns the high-water mark of each partition of a topic.
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	var reqs []kafkago.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("list offsets of %s partition %d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// CommittedOffsets returns a group's committed offset of each partition of
// a topic; partitions without a commit are absent.
func CommittedOffsets(ctx context.Context, brokers []string, group, topic string, partitions int) (map[int]int64, error) {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, resp.Error)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error == nil && p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}
