// Package kafkatest runs an embedded Kafka broker (franz-go's kfake, an
// in-process implementation of the Kafka protocol) on 127.0.0.1, where kfake
// always listens, for the
// demo and the tests. Clients talk to it over TCP exactly as to a real
// broker.
package kafkatest

import (
	"fmt"
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
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start starts a broker on 127.0.0.1.
func Start(opts Options) (*Broker, error) {
	if opts.Partitions == 0 {
		opts.Partitions = 8
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
	return &Broker{cluster: cluster, addr: addrs[0]}, nil
}

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Brokers returns the broker list for clients.
func (b *Broker) Brokers() []string { return []string{b.addr} }

// Close stops the broker.
func (b *Broker) Close() { b.cluster.Close() }
