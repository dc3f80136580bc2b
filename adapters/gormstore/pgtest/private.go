package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
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
	dir, err := os.MkdirTemp("", "ticketstream-pg-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if runAs != nil {
		if err := os.Chown(dir, runAs.uid, runAs.gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := serverCommand(runAs, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale", "C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	server := serverCommand(runAs, filepath.Join(bin, "postgres"), args...)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
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
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := ping(url)
		if err == nil {
			return url
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("pgtest: the private server exited: %v\n%s", werr, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: the private server did not answer in 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
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
