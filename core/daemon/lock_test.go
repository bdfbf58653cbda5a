package daemon

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

// TestMain doubles as a helper process that holds the locks, so the tests
// can check the refusal across processes, as two daemons would meet.
func TestMain(m *testing.M) {
	if spec := os.Getenv("PLUGGD_TEST_HOLD_LOCK"); spec != "" {
		root, pidfile, _ := strings.Cut(spec, ",")
		l, err := Lock(root, pidfile)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		// Hold until the parent closes stdin.
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdLock starts a helper process holding the locks on root and pidfile
// and returns its pid; the helper exits at cleanup.
func holdLock(t *testing.T, root, pidfile string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLUGGD_TEST_HOLD_LOCK="+root+","+pidfile)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}
	return cmd.Process.Pid
}

func TestSecondDaemonOnSameRootRefuses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	pid := holdLock(t, root, filepath.Join(t.TempDir(), "a.pid"))
	_, err := Lock(root, filepath.Join(t.TempDir(), "b.pid"))
	want := fmt.Sprintf("pluggd is already running on root %s (pid %d)", root, pid)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if !errdefs.IsConflict(err) {
		t.Fatalf("err is %v, want Conflict", errdefs.ClassOf(err))
	}
}

func TestSecondDaemonWithSamePidfileRefuses(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "p.pid")
	pid := holdLock(t, t.TempDir(), pidfile)
	root := t.TempDir()
	_, err := Lock(root, pidfile)
	want := fmt.Sprintf("pluggd is already running with pidfile %s (pid %d)", pidfile, pid)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	// The refused daemon must not keep the root it had locked first.
	l, err := Lock(root, filepath.Join(t.TempDir(), "q.pid"))
	if err != nil {
		t.Fatalf("root still locked after refusal: %v", err)
	}
	l.Release()
	// And the holder's pidfile still names the holder.
	b, _ := os.ReadFile(pidfile)
	if strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pidfile now says %q", b)
	}
}

func TestLockWritesPidAndReleaseRemovesPidfile(t *testing.T) {
	t.Parallel()
	root, pidfile := t.TempDir(), filepath.Join(t.TempDir(), "run", "p.pid")
	// A stale pidfile from a crashed daemon is taken over.
	os.MkdirAll(filepath.Dir(pidfile), 0o755)
	os.WriteFile(pidfile, []byte("999999\n"), 0o644)
	l, err := Lock(root, pidfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pidfile, filepath.Join(root, LockFileName)} {
		b, _ := os.ReadFile(p)
		if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
			t.Errorf("%s holds %q", p, b)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatal("pidfile not removed")
	}
	l, err = Lock(root, pidfile)
	if err != nil {
		t.Fatalf("relock: %v", err)
	}
	l.Release()
}

func TestIDIsStable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	id, err := loadOrCreateID(root)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(id, ":")
	if len(parts) != 12 || len(parts[0]) != 4 {
		t.Fatalf("id %q is not 12 groups of 4", id)
	}
	again, _ := loadOrCreateID(root)
	if again != id {
		t.Fatalf("id changed: %s then %s", id, again)
	}
	other, _ := loadOrCreateID(t.TempDir())
	if other == id {
		t.Fatal("two roots share an id")
	}
}
