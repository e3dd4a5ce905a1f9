package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/vytalwatch/vytalwatch/engine"
)

// GroupConfig configures a consumer group member.
type GroupConfig struct {
	Brokers []string
	GroupID string
	// Topics are the co-partitioned input topics.
	Topics []string
	// SessionTimeout is how long the group waits for a silent member before
	// moving its partitions. Defaults to 10s.
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// Consumer is an engine.Consumer backed by a kafka-go consumer group.
type Consumer struct {
	cfg   GroupConfig
	group *kafkago.ConsumerGroup
}

// NewConsumer joins the group.
func NewConsumer(cfg GroupConfig) (*Consumer, error) {
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Brokers,
		Topics:            cfg.Topics,
		GroupBalancers:    []kafkago.GroupBalancer{PartitionNumberBalancer{}},
		HeartbeatInterval: cfg.SessionTimeout / 4,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafkago.FirstOffset,
		ErrorLogger:       kafkago.LoggerFunc(func(msg string, args ...any) { cfg.Logger.Debug("kafka group", "detail", fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return nil, fmt.Errorf("join consumer group %s: %w", cfg.GroupID, err)
	}
	return &Consumer{cfg: cfg, group: group}, nil
}

// Next waits for the next generation.
func (c *Consumer) Next(ctx context.Context) (engine.Generation, error) {
	gen, err := c.group.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &generation{cfg: c.cfg, gen: gen}, nil
}

// Close leaves the group.
func (c *Consumer) Close() error {
	err := c.group.Close()
	if errors.Is(err, kafkago.ErrGroupClosed) {
		return nil
	}
	return err
}

type generation struct {
	cfg GroupConfig
	gen *kafkago.Generation
}

func (g *generation) Partitions() []int {
	seen := map[int]bool{}
	for _, assigned := range g.gen.Assignments {
		for _, a := range assigned {
			seen[a.ID] = true
		}
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

func (g *generation) Start(fn func(ctx context.Context)) { g.gen.Start(fn) }

func (g *generation) Commit(partition int, offsets map[string]int64) error {
	req := map[string]map[int]int64{}
	for topic, next := range offsets {
		req[topic] = map[int]int64{partition: next}
	}
	return g.gen.CommitOffsets(req)
}

func (g *generation) OpenReader(topic string, partition int, offset int64) (engine.PartitionReader, error) {
	return OpenPartitionReader(g.cfg.Brokers, topic, partition, offset)
}

// PartitionReader reads one partition of a topic.
type PartitionReader struct {
	r       *kafkago.Reader
	brokers []string
	topic   string
	part    int
}

// OpenPartitionReader opens a reader at offset (the next offset to read).
func OpenPartitionReader(brokers []string, topic string, partition int, offset int64) (*PartitionReader, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:         brokers,
		Topic:           topic,
		Partition:       partition,
		MinBytes:        1,
		MaxBytes:        16 << 20,
		MaxWait:         250 * time.Millisecond,
		QueueCapacity:   1000,
		ReadLagInterval: -1,
		MaxAttempts:     1 << 30,
	})
	if offset <= 0 {
		offset = kafkago.FirstOffset
	}
	if err := r.SetOffset(offset); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("seek %s partition %d to %d: %w", topic, partition, offset, err)
	}
	return &PartitionReader{r: r, brokers: brokers, topic: topic, part: partition}, nil
}

// Fetch returns the next message.
func (p *PartitionReader) Fetch(ctx context.Context) (engine.Message, error) {
	m, err := p.r.FetchMessage(ctx)
	if err != nil {
		return engine.Message{}, err
	}
	return engine.Message{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Time: m.Time, HighWaterMark: m.HighWaterMark,
	}, nil
}

// EndOffset returns the partition's high-water mark.
func (p *PartitionReader) EndOffset(ctx context.Context) (int64, error) {
	ends, err := EndOffsets(ctx, p.brokers, p.topic)
	if err != nil {
		return 0, err
	}
	return ends[p.part], nil
}

// Close closes the reader.
func (p *PartitionReader) Close() error { return p.r.Close() }

// PartitionNumberBalancer assigns partition N of every topic to the same
// member, which co-partitioned inputs need: a patient's readings, profile
// and care events all live on partition N. Members, sorted by id, take
// contiguous ranges of partition numbers.
type PartitionNumberBalancer struct{}

// ProtocolName names the balancer in the group protocol.
func (PartitionNumberBalancer) ProtocolName() string { return "vytalwatch-copartition" }

// UserData returns no user data.
func (PartitionNumberBalancer) UserData() ([]byte, error) { return nil, nil }

// AssignGroups assigns partitions to members.
func (PartitionNumberBalancer) AssignGroups(members []kafkago.GroupMember, partitions []kafkago.Partition) kafkago.GroupMemberAssignments {
	out := kafkago.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	ids := make([]string, len(members))
	topicsOf := map[string]map[string]bool{}
	for i, m := range members {
		ids[i] = m.ID
		topicsOf[m.ID] = map[string]bool{}
		for _, t := range m.Topics {
			topicsOf[m.ID][t] = true
		}
		out[m.ID] = map[string][]int{}
	}
	sort.Strings(ids)
	count := 0
	for _, p := range partitions {
		count = max(count, p.ID+1)
	}
	for _, p := range partitions {
		owner := ids[p.ID*len(ids)/max(count, 1)]
		if topicsOf[owner][p.Topic] {
			out[owner][p.Topic] = append(out[owner][p.Topic], p.ID)
		}
	}
	for _, byTopic := range out {
		for t := range byTopic {
			sort.Ints(byTopic[t])
		}
	}
	return out
}
