package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// child is a vytalwatch process that a harness starts, kills and restarts.
type child struct {
	bin  string
	args []string
	env  []string
	log  string
	// healthAddr, when set, is the address of the process's /healthz.
	// stop waits for it to respond first: a process stopped before it has
	// installed its signal handlers dies of SIGTERM instead of draining.
	healthAddr string
	cmd        *exec.Cmd
	done       chan error
}

func newChild(bin, logFile string, env []string, args ...string) *child {
	return &child{bin: bin, args: args, env: env, log: logFile}
}

// start runs the process, appending its output to the log file.
func (c *child) start() error {
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	c.cmd = exec.Command(c.bin, c.args...)
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s %v: %w", c.bin, c.args, err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait() }()
	return nil
}

// kill ends the process with SIGKILL: no drain, no commit, no goodbye.
func (c *child) kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	c.cmd = nil
}

// stop sends SIGTERM and waits for a clean exit, within timeout.
func (c *child) stop(timeout time.Duration) error {
	if c.cmd == nil {
		return nil
	}
	deadline := time.Now().Add(timeout)
	if err := c.waitHealthy(deadline); err != nil {
		return err
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.cmd = nil
		if err != nil {
			return fmt.Errorf("%s exited with %v; see %s", c.args[0], err, c.log)
		}
		return nil
	case <-time.After(time.Until(deadline)):
		c.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; see %s", c.args[0], timeout, c.log)
	}
}

// waitHealthy waits until the process serves /healthz, when it has a
// health address, or exits.
func (c *child) waitHealthy(deadline time.Time) error {
	if c.healthAddr == "" {
		return nil
	}
	client := http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			return nil
		default:
		}
		if resp, err := client.Get("http://" + c.healthAddr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not serve /healthz on %s in time; see %s", c.args[0], c.healthAddr, c.log)
}

// freePort returns a TCP port on 127.0.0.1 that is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until something accepts connections on port.
func waitListening(ctx context.Context, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sleepCtx sleeps for d, and reports false when ctx ends first.
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
