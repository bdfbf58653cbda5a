package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestMain doubles as a process started the way systemd starts a socket-
// activated service: the socket on fd 3, LISTEN_FDS=1 and LISTEN_PID set to
// the process's own pid (systemd sets it between fork and exec; the helper
// sets it first thing, which is the same to the code under test).
func TestMain(m *testing.M) {
	if os.Getenv("PLUGGD_TEST_FD_HELPER") == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		ls, err := Listen(context.Background(), "fd://", ListenOptions{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		s := New(Options{})
		fmt.Println("serving", len(ls))
		s.Serve(context.Background(), ls)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSystemdSocketActivation(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLUGGD_TEST_FD_HELPER=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "serving 1" {
		t.Fatalf("helper: %q", line)
	}
	// The helper's server answers on the socket it was handed (404: it
	// has no routes, but the API headers prove who answered).
	resp, err := http.Get("http://" + l.Addr().String() + "/_ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("API-Version") != "1.19" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
}
