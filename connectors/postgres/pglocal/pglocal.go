// Package pglocal starts a private PostgreSQL cluster from the machine's
// server binaries, for the demo and the tests: a fresh data directory in
// a temporary folder, a generated superuser password, a free port on
// 127.0.0.1 and no other listener. Close stops the server and removes
// the directory.
//
// On Debian the binaries come from the postgresql package
// (/usr/lib/postgresql/N/bin). initdb and postgres refuse to run as
// root, so as root every server command runs as the postgres user
// through runuser, on a directory that user owns.
package pglocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoServer is returned by Start when no PostgreSQL server binaries are
// installed.
var ErrNoServer = errors.New("pglocal: no PostgreSQL server binaries found under /usr/lib/postgresql/*/bin; install them with: apt-get install -y postgresql (or make deps)")

// binGlob is the pattern of the per-version server binary directories that
// Debian installs.
const binGlob = "/usr/lib/postgresql/*/bin"

// Options configures a cluster.
type Options struct {
	// Database is created in the cluster and named by URL. Defaults to
	// vytalwatch.
	Database string
	// Durable keeps fsync and full page writes on. Tests leave it off,
	// which makes commits several times faster and loses nothing that a
	// throw-away cluster needs.
	Durable bool
	// MaxConnections is the server's max_connections. Defaults to 200.
	MaxConnections int
	Logger         *slog.Logger
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir    string
	bin    string
	asUser string // the user to run server commands as; empty runs them directly
	port   int
	url    string
	server *exec.Cmd
	exited chan struct{}
	logger *slog.Logger
}

// FindBinaries returns the bin directory of the newest PostgreSQL major
// version installed, or ErrNoServer.
func FindBinaries() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	var found []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return "", ErrNoServer
	}
	sort.Slice(found, func(i, j int) bool { return majorVersion(found[i]) < majorVersion(found[j]) })
	return found[len(found)-1], nil
}

func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises a cluster in a new temporary directory, starts it and
// creates the database. It returns once the database accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Database == "" {
		opts.Database = "vytalwatch"
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 200
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vytalwatch-pg-")
	if err != nil {
		return nil, fmt.Errorf("pglocal: create data directory: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, logger: opts.Logger.With("component", "pglocal")}
	if os.Geteuid() == 0 {
		if err := c.handOver("postgres"); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	password, err := c.initdb(ctx)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// A port picked free can be taken by another process before the
	// server binds it, so a failed start is tried again on another port.
	for attempt := 1; ; attempt++ {
		err = c.startServer(ctx, opts)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		c.logger.Warn("postgres did not start; retrying on another port", "attempt", attempt, "error", err)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	u := &url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		RawQuery: "sslmode=disable",
	}
	if err := createDatabase(ctx, u, opts.Database); err != nil {
		_ = c.Close()
		return nil, err
	}
	u.Path = "/" + opts.Database
	c.url = u.String()
	c.logger.Info("private postgres started", "port", c.port, "dir", dir, "version", majorVersion(bin))
	return c, nil
}

// URL returns the database's connection string, password included.
func (c *Cluster) URL() string { return c.url }

// Port returns the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// handOver gives the data directory to the named user, who runs every
// server command.
func (c *Cluster) handOver(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("pglocal: running as root needs the %s user, which the postgresql package creates: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("pglocal: give %s to %s: %w", c.dir, name, err)
	}
	c.asUser = name
	return nil
}

// command returns a server command, run as c.asUser when set.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asUser == "" {
		return exec.CommandContext(ctx, path, args...)
	}
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// initdb creates the cluster with a random superuser password, required
// for TCP connections; the server's Unix socket sits in the private
// directory.
func (c *Cluster) initdb(ctx context.Context) (string, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	password := hex.EncodeToString(secret)
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pglocal: write password file: %w", err)
	}
	if c.asUser != "" {
		if err := chownLike(pwfile, c.dir); err != nil {
			return "", err
		}
	}
	cmd := c.command(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	out, err := cmd.CombinedOutput()
	_ = os.Remove(pwfile)
	if err != nil {
		return "", fmt.Errorf("pglocal: initdb failed: %w\n%s", err, bytes.TrimSpace(out))
	}
	return password, nil
}

func chownLike(path, like string) error {
	st, err := os.Stat(like)
	if err != nil {
		return err
	}
	sys := st.Sys().(*syscall.Stat_t)
	return os.Chown(path, int(sys.Uid), int(sys.Gid))
}

// startServer runs postgres in the foreground as a child process, so that
// it gets SIGTERM when this process dies, and waits until it accepts
// connections.
func (c *Cluster) startServer(ctx context.Context, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	args := []string{"-D", c.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + c.dir,
		"-c", "max_connections=" + strconv.Itoa(opts.MaxConnections),
		"-c", "logging_collector=off",
	}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logPath := filepath.Join(c.dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pglocal: open server log: %w", err)
	}
	// The server outlives ctx, which only bounds the start.
	cmd := c.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("pglocal: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	c.server, c.exited, c.port = cmd, exited, port

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("pglocal: postgres exited during start on port %d; its log:\n%s", port, tail(logPath))
		case <-ctx.Done():
			c.stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if ready(c.dir, port) {
			return nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return fmt.Errorf("pglocal: postgres did not accept connections within 30s; its log:\n%s", tail(logPath))
		}
	}
}

// ready reports whether the server accepts connections on its socket.
func ready(socketDir string, port int) bool {
	conn, err := net.DialTimeout("unix", filepath.Join(socketDir, fmt.Sprintf(".s.PGSQL.%d", port)), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	conn, err = net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

func createDatabase(ctx context.Context, admin *url.URL, name string) error {
	u := *admin
	u.Path = "/postgres"
	// The server accepts TCP connections a moment before it accepts
	// sessions; until then it answers 57P03 (cannot_connect_now).
	var conn *pgx.Conn
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		conn, err = pgx.Connect(ctx, u.String())
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "57P03" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("pglocal: connect to the new cluster: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pglocal: create database %s: %w", name, err)
	}
	return nil
}

// stop asks the server for a fast shutdown (open sessions are ended) and
// waits up to 10s before killing it.
func (c *Cluster) stop() {
	if c.server == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "10").CombinedOutput(); err != nil {
		c.logger.Warn("pg_ctl stop failed; killing the server", "error", err, "output", string(bytes.TrimSpace(out)))
		// Setpgid put runuser and the server in their own process group.
		_ = syscall.Kill(-c.server.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.server.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

// Close stops the server and removes its directory. It is safe to call
// more than once.
func (c *Cluster) Close() error {
	c.stop()
	if c.dir == "" {
		return nil
	}
	dir := c.dir
	c.dir = ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pglocal: remove %s: %w", dir, err)
	}
	c.logger.Info("private postgres stopped", "port", c.port)
	return nil
}
