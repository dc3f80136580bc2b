package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartPrivateServer starts a PostgreSQL server of t's own — initdb into a
// temporary directory, the server on a free loopback port, stopped and
// removed when t ends — with settings (name=value, such as
// wal_level=logical) the shared server lacks and must not be restarted
// for. It returns the URL of the new server's postgres database, whose
// user postgres is a superuser trusted without a password.
//
// It needs PostgreSQL's server programs (initdb and postgres from
// /usr/lib/postgresql/*/bin, or the directory TICKETSTREAM_TEST_PG_BIN
// names). The server refuses to run as root: under root it runs as the
// system user postgres. Without either, t skips — or fails under CI=true.
func StartPrivateServer(t testing.TB, settings ...string) string {
	t.Helper()
	bin, err := serverPrograms()
	if err != nil {
		unavailable(t, err)
	}
	runAs, err := serverUser()
	if err != nil {
		unavailable(t, err)
	}
	removeStale()
	dir, err := os.MkdirTemp("", privatePrefix)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if runAs != nil {
		if err := os.Chown(dir, runAs.uid, runAs.gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := serverCommand(runAs, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale", "C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		hint := ""
		if runAs != nil {
			hint = fmt.Sprintf("\n(initdb runs as the user postgres, who must be able to reach %s: a TMPDIR only root may enter stops it)", dir)
		}
		t.Fatalf("pgtest: initdb: %v\n%s%s", err, out, hint)
	}
	// The port is free when picked, not reserved: another program may take
	// it before the server binds it, so a server that could not is started
	// again on another.
	for attempt := 1; ; attempt++ {
		url, log, err := startServer(t, runAs, bin, dir, settings)
		if err == nil {
			return url
		}
		if attempt == 3 || !strings.Contains(log, "could not bind") {
			t.Fatalf("pgtest: %v\n%s", err, log)
		}
	}
}

// startServer starts the server of the data directory in dir on a free
// loopback port, to be stopped when t ends, and returns its URL — or the
// error and the server's log when it exited before it answered.
func startServer(t testing.TB, runAs *systemUser, bin, dir string, settings []string) (url, log string, err error) {
	t.Helper()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	args := []string{"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	server := serverCommand(runAs, filepath.Join(bin, "postgres"), args...)
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		t.Fatalf("pgtest: start postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		// SIGINT: PostgreSQL's fast shutdown, which ends open sessions.
		_ = server.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = server.Process.Kill()
			<-exited
		}
	})
	url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := ping(url)
		if err == nil {
			return url, "", nil
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			text, _ := os.ReadFile(logPath)
			return "", string(text), fmt.Errorf("the private server exited: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: the private server did not answer in 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// privatePrefix begins the name of each private server's directory.
const privatePrefix = "ticketstream-pg-"

// removeStale removes what private servers of test binaries that died
// without their cleanups left (their servers died with them): directories
// whose test binary (ownerFile) is gone.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), privatePrefix+"*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being made now, perhaps
		}
		pid, err := strconv.Atoi(string(owner))
		if err != nil {
			continue // not ours to judge
		}
		// EPERM: alive, another user's (a test run as root seen from one
		// run as postgres).
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// ownerFile, in a private server's directory, holds the process id of the
// test binary that made it.
const ownerFile = "owner.pid"

// unavailable skips t for lack of a private server, or fails it under
// CI=true.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: cannot start a private PostgreSQL server: %v", err)
	}
	t.Skipf("pgtest: cannot start a private PostgreSQL server: %v", err)
}

// serverPrograms returns the directory of initdb and postgres: the newest
// release installed, unless TICKETSTREAM_TEST_PG_BIN names one.
func serverPrograms() (string, error) {
	if dir := os.Getenv("TICKETSTREAM_TEST_PG_BIN"); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", fmt.Errorf("no initdb in /usr/lib/postgresql/*/bin (install PostgreSQL's server package, or set TICKETSTREAM_TEST_PG_BIN)")
	}
	slices.SortFunc(found, func(a, b string) int { return releaseOf(a) - releaseOf(b) })
	return filepath.Dir(found[len(found)-1]), nil
}

// releaseOf returns the major release in a path /usr/lib/postgresql/N/bin/initdb.
func releaseOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// systemUser is the user the server runs as when the tests run as root.
type systemUser struct{ uid, gid int }

// serverUser returns nil to run the server as the tests' own user, or the
// system user postgres when that is root.
func serverUser() (*systemUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the tests run as root, which PostgreSQL refuses, and there is no user postgres: %v", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, err
	}
	return &systemUser{uid: uid, gid: gid}, nil
}

// serverCommand runs program as u (nil: the tests' own user).
func serverCommand(u *systemUser, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(context.Background(), program, args...)
	// A test binary that dies without its cleanups (a -timeout panic,
	// SIGKILL) takes the server with it: SIGQUIT is PostgreSQL's immediate
	// shutdown. Go sets it after the change of user, which would clear it.
	// (It is sent when the thread that started the server ends: a test
	// that locks its goroutine to its thread must not start one.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if u != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	// The server's own environment, not the tests' PG* settings.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C"}
	return cmd
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
