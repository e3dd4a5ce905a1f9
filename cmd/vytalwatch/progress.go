package main

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far the engine has come: a progress bar on a
// terminal, a log line every few seconds otherwise.
type progress struct {
	w      io.Writer
	logger *slog.Logger
	total  int64
}

func newProgress(w io.Writer, logger *slog.Logger, total int64) *progress {
	return &progress{w: w, logger: logger, total: total}
}

// watch polls current until the returned stop function is called.
func (p *progress) watch(current func() int64) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if isTerminal(p.w) {
			p.bar(current, done)
		} else {
			p.lines(current, done)
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

func (p *progress) bar(current func() int64, done <-chan struct{}) {
	bar := progressbar.NewOptions64(p.total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("readings"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("readings"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			_ = bar.Set64(current())
			_ = bar.Finish()
			return
		case <-tick.C:
			_ = bar.Set64(current())
		}
	}
}

func (p *progress) lines(current func() int64, done <-chan struct{}) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	started := time.Now()
	for {
		select {
		case <-done:
			p.logger.Info("engine progress", "processed", current(), "total", p.total, "seconds", time.Since(started).Seconds())
			return
		case <-tick.C:
			p.logger.Info("engine progress", "processed", current(), "total", p.total, "seconds", time.Since(started).Seconds())
		}
	}
}
