// Package kafkatest runs an embedded Kafka broker (franz-go's kfake, an
// in-process implementation of the Kafka protocol) on 127.0.0.1, where kfake
// always listens, for the
// demo and the tests. Clients talk to it over TCP exactly as to a real
// broker.
package kafkatest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configures an embedded broker.
type Options struct {
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir keeps the broker's log on disk, so that a restarted broker
	// with the same DataDir and Port has the same topics, messages and
	// group offsets. Empty keeps everything in memory.
	DataDir string
	// Partitions is the partition count of automatically created topics.
	// Defaults to 8.
	Partitions int
	// Logger logs the removals of stale consumer group members and the
	// failures to find or remove them. Defaults to slog.Default().
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	// stopReaper stops the stale member reaper, and reaperDone is closed
	// when it has stopped.
	stopReaper context.CancelFunc
	reaperDone chan struct{}
}

// Start starts a broker on 127.0.0.1, with a groupReaper that removes the
// consumer group members that kfake never expires.
func Start(opts Options) (*Broker, error) {
	if opts.Partitions == 0 {
		opts.Partitions = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(opts.Partitions),
		// Short sessions let tests and demos move a killed member's
		// partitions in seconds; Kafka's own minimum is 6s.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if opts.Port != 0 {
		kopts = append(kopts, kfake.Ports(opts.Port))
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka broker: %w", err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) == 0 {
		cluster.Close()
		return nil, fmt.Errorf("embedded kafka broker has no listener")
	}

	reaper := newGroupReaper(addrs[0], opts.Logger)
	reaper.watch(cluster)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cluster: cluster, addr: addrs[0], stopReaper: cancel, reaperDone: make(chan struct{})}
	go func() {
		defer close(b.reaperDone)
		reaper.run(ctx)
	}()
	return b, nil
}

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Brokers returns the broker list for clients.
func (b *Broker) Brokers() []string { return []string{b.addr} }

// Close stops the broker.
func (b *Broker) Close() {
	b.stopReaper()
	<-b.reaperDone
	b.cluster.Close()
}
