package engine

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
)

const (
	resultAccepted  = "accepted"
	resultRejected  = "rejected"
	resultDuplicate = "duplicate"
)

// Metrics are the engine's Prometheus metrics. A nil *Metrics records
// nothing, for tools that run the processor offline.
type Metrics struct {
	readingsTotal   *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	alertsTotal     *prometheus.CounterVec
	ruleErrors      *prometheus.CounterVec
	ruleEvalSeconds prometheus.Histogram
	batchSeconds    prometheus.Histogram
	batchSize       prometheus.Histogram
	commitSeconds   prometheus.Histogram
	alertLatency    *prometheus.HistogramVec
	consumerLag     *prometheus.GaugeVec
	partitions      prometheus.Gauge
	droppedTotal    prometheus.Counter
	sweepsTotal     prometheus.Counter
	produceRetries  prometheus.Counter
	rebalancesTotal prometheus.Counter
	restoring       prometheus.Gauge
	restoreSeconds  prometheus.Histogram
	restoreRecords  prometheus.Counter
	restoreLeft     *prometheus.GaugeVec
	snapshots       prometheus.Counter
}

// NewMetrics registers the engine metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latencyBuckets := []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}
	m := &Metrics{
		readingsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_engine_readings_total", Help: "Readings consumed, by result: accepted, rejected or duplicate.",
		}, []string{"result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_engine_deadletters_total", Help: "Input messages sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		alertsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_engine_alerts_total", Help: "Alert events emitted, by kind and severity.",
		}, []string{"kind", "severity"}),
		ruleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_engine_rule_errors_total", Help: "Rule evaluations that failed at run time, by rule id.",
		}, []string{"rule"}),
		ruleEvalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vytalwatch_engine_rule_eval_seconds", Help: "Time to evaluate one rule for one patient.",
			Buckets: []float64{1e-7, 5e-7, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 1e-3, 1e-2},
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vytalwatch_engine_batch_seconds", Help: "Time to apply, emit and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vytalwatch_engine_batch_messages", Help: "Messages per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vytalwatch_engine_commit_seconds", Help: "Time to commit a batch's state and offsets to the store with sync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		alertLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vytalwatch_engine_alert_latency_seconds", Help: "Time from a reading's measured_at or received_at to the emit of the alert it triggered.",
			Buckets: latencyBuckets,
		}, []string{"from"}),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vytalwatch_engine_consumer_lag_messages", Help: "Messages behind the high-water mark, per topic and partition.",
		}, []string{"topic", "partition"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vytalwatch_engine_partitions_assigned", Help: "Partitions this instance owns.",
		}),
		droppedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_engine_dropped_total", Help: "Input messages dropped without effect. The engine applies back-pressure instead, so this stays 0.",
		}),
		sweepsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_engine_timer_sweeps_total", Help: "Evaluations of clock-driven rules over a partition.",
		}),
		produceRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_engine_produce_retries_total", Help: "Failed attempts to write output records, each retried.",
		}),
		rebalancesTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_engine_generations_total", Help: "Consumer group generations joined.",
		}),
	}
	m.restoring = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vytalwatch_engine_restoring_partitions", Help: "Partitions being rebuilt from the changelog.",
	})
	m.restoreSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vytalwatch_engine_restore_seconds", Help: "Time to restore one partition from the changelog.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
	})
	m.restoreRecords = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vytalwatch_engine_restore_records_total", Help: "Changelog records applied by restores.",
	})
	m.restoreLeft = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vytalwatch_engine_restore_remaining_records", Help: "Changelog records a running restore has still to read, per partition.",
	}, []string{"partition"})
	m.snapshots = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vytalwatch_engine_billing_snapshots_total", Help: "Billing eligibility snapshots sent because a patient-month changed.",
	})
	reg.MustRegister(m.restoring, m.restoreSeconds, m.restoreRecords, m.restoreLeft, m.snapshots)
	reg.MustRegister(m.readingsTotal, m.deadLetters, m.alertsTotal, m.ruleErrors, m.ruleEvalSeconds,
		m.batchSeconds, m.batchSize, m.commitSeconds, m.alertLatency, m.consumerLag, m.partitions,
		m.droppedTotal, m.sweepsTotal, m.produceRetries, m.rebalancesTotal)
	return m
}

func (m *Metrics) readings(result string) {
	if m != nil {
		m.readingsTotal.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.readingsTotal.WithLabelValues(resultRejected).Inc()
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) alert(ev vytalwatch.AlertEvent) {
	if m == nil {
		return
	}
	m.alertsTotal.WithLabelValues(ev.Kind, ev.Severity).Inc()
	if ev.Kind != vytalwatch.AlertFired || ev.Trigger != vytalwatch.TriggerReading || len(ev.Readings) == 0 {
		return
	}
	m.alertLatency.WithLabelValues("measured_at").Observe(time.Since(ev.Readings[0].MeasuredAt).Seconds())
}

func (m *Metrics) ruleError(rule string) {
	if m != nil {
		m.ruleErrors.WithLabelValues(rule).Inc()
	}
}

func (m *Metrics) ruleEval(d time.Duration) {
	if m != nil {
		m.ruleEvalSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) sweep() {
	if m != nil {
		m.sweepsTotal.Inc()
	}
}

func (m *Metrics) snapshot() {
	if m != nil {
		m.snapshots.Inc()
	}
}

func (m *Metrics) restoreRemaining(partition int, left int64) {
	if m != nil {
		m.restoreLeft.WithLabelValues(strconv.Itoa(partition)).Set(float64(left))
	}
}

func (m *Metrics) lag(topic string, partition int, lag int64) {
	if m != nil {
		m.consumerLag.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(lag))
	}
}

// ruleErrorLog rate-limits the log lines of failing rules to one per rule
// per interval, counting what it suppressed.
type ruleErrorLog struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	dropped  map[string]int
}

func newRuleErrorLog(interval time.Duration) *ruleErrorLog {
	return &ruleErrorLog{interval: interval, last: map[string]time.Time{}, dropped: map[string]int{}}
}

func (l *ruleErrorLog) allow(rule string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.last[rule]) < l.interval {
		l.dropped[rule]++
		return false
	}
	l.last[rule] = time.Now()
	return true
}

func (l *ruleErrorLog) suppressed(rule string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.dropped[rule]
	l.dropped[rule] = 0
	return n
}
