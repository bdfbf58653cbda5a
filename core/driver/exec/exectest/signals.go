package exectest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
)

func signalChecks() []check {
	return []check{
		{name: "KillIs137", run: checkKill},
		{name: "TermIgnoredByInit", run: checkTermIgnoredByInit},
		{name: "TermHandledByInit", run: checkTermHandledByInit},
		{name: "TermKillsNonInit", run: checkTermKillsNonInit},
	}
}

// checkKill: a container killed by SIGKILL exits with 128+9, as docker
// kill and docker stop after its timeout report.
func checkKill(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.run(spec)
	h.signal(spec.ID, syscall.SIGKILL)
	if exit, _ := h.wait(st.Supervisor); exit.Code != 137 || exit.Error != "" {
		h.t.Errorf("exit after SIGKILL: %+v, want code 137", exit)
	}
}

// checkTermIgnoredByInit: busybox sleep, as its pid namespace's init,
// has no SIGTERM handler, so the kernel drops the signal (pid_namespaces(7):
// only SIGKILL and SIGSTOP are forced on an init from an ancestor
// namespace). A driver must not "help" by turning it into a kill: docker
// stop relies on the container running on until its timeout, then sends
// SIGKILL, which gives 137.
func checkTermIgnoredByInit(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.run(spec)
	// Start may return before the driver's init code (libcontainer's is
	// a Go program, which dies of SIGTERM) has executed the program.
	h.waitComm(st.Pid, "sleep")
	h.signal(spec.ID, syscall.SIGTERM)
	time.Sleep(settle)
	if cur := h.state(spec.ID); cur.Status != exec.StatusRunning || !alive(st.Pid) {
		h.t.Errorf("after SIGTERM to an init without a handler the container is %v (init alive: %v), want it running", cur.Status, alive(st.Pid))
	}
	h.signal(spec.ID, syscall.SIGKILL)
	if exit, _ := h.wait(st.Supervisor); exit.Code != 137 {
		h.t.Errorf("exit after SIGTERM then SIGKILL: %+v, want code 137", exit)
	}
}

// checkTermHandledByInit: an init that handles SIGTERM gets it and
// decides its exit code.
func checkTermHandledByInit(h *harness) {
	spec := h.spec("sh", "-c", `trap "exit 42" TERM; while :; do sleep 0.05; done`)
	st := h.run(spec)
	// Signal only once sh has set its handler; before that the kernel
	// would drop the signal (see checkTermIgnoredByInit).
	h.waitCaught(st.Pid, "sh", syscall.SIGTERM)
	h.signal(spec.ID, syscall.SIGTERM)
	if exit, _ := h.wait(st.Supervisor); exit.Code != 42 {
		h.t.Errorf("exit after SIGTERM to an init trapping it with exit 42: %+v", exit)
	}
}

// checkTermKillsNonInit: a process that is not an init dies of SIGTERM by
// default, and its exit code is 128+15. Sharing the host's pid namespace
// (docker run --pid=host) makes the container's process such a process.
func checkTermKillsNonInit(h *harness) {
	spec := h.spec("sleep", "1000")
	spec.SharedNamespaces = map[string]string{"pid": "host"}
	st := h.run(spec)
	h.waitComm(st.Pid, "sleep")
	h.signal(spec.ID, syscall.SIGTERM)
	if exit, _ := h.wait(st.Supervisor); exit.Code != 143 {
		h.t.Errorf("exit after SIGTERM to a process in the host's pid namespace: %+v, want code 143", exit)
	}
}

// waitComm waits until process pid runs comm: the container's program has
// replaced the driver's init code (which may be a Go program catching
// every signal).
func (h *harness) waitComm(pid int, comm string) {
	h.t.Helper()
	deadline := time.Now().Add(callTimeout)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if strings.TrimSpace(string(b)) == comm {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("process %d runs %q, not %q, after %v", pid, strings.TrimSpace(string(b)), comm, callTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCaught waits until process pid runs comm and has a handler for sig
// (the SigCgt mask of /proc/<pid>/status, proc(5)).
func (h *harness) waitCaught(pid int, comm string, sig syscall.Signal) {
	h.t.Helper()
	h.waitComm(pid, comm)
	deadline := time.Now().Add(callTimeout)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(b), "\n") {
			if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
				if err == nil && m&(1<<(uint(sig)-1)) != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("process %d set no handler for %v within %v", pid, sig, callTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
