package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Name is the fake's Info.Name.
const Name = "fake-0.1"

// Driver is the fake execution driver.
type Driver struct {
	root string
	mu   sync.Mutex
	// waiting holds the pids a Wait goroutine of this process watches:
	// their status is recorded by that goroutine, even when it has
	// reaped the process (gone from /proc) and waits for mu to record.
	waiting map[int]bool
}

var _ exec.Driver = (*Driver)(nil)

// New is the fake's exec.Factory. It accepts no options.
func New(_ context.Context, opts exec.InitOptions) (exec.Driver, error) {
	if len(opts.Options) > 0 {
		return nil, errdefs.InvalidParameter(fmt.Errorf("fake exec driver: unknown option %q", opts.Options[0]))
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, err
	}
	return &Driver{root: opts.Root, waiting: map[int]bool{}}, nil
}

// record is one container's state file.
type record struct {
	Spec  exec.ContainerSpec
	State exec.State
	// StartTicks is the process's start time (field 22 of
	// /proc/<pid>/stat), which tells it from a later process that
	// reused the pid.
	StartTicks uint64
}

func (d *Driver) path(id string) string { return filepath.Join(d.root, id+".json") }

func (d *Driver) load(id string) (*record, error) {
	b, err := os.ReadFile(d.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (d *Driver) save(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := d.path(r.Spec.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.path(r.Spec.ID))
}

// startTicks reads a process's start time; 0 when it is gone or a zombie.
func startTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 || f[0] == "Z" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// ourZombie reports whether pid has exited but is not reaped yet and is
// this plugin process's child: then its Wait goroutine is about to record
// the real status, so it must not be declared lost (seen under load: State
// ran between the exit and the reap). A zombie another process inherited
// (this plugin's predecessor died) is lost as before.
func ourZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(os.Getpid())
}

// refresh notices that a running process has gone while no Wait of this
// plugin process saw it (it died while another plugin process was its
// parent): its exit status is lost.
func (d *Driver) refresh(r *record) error {
	st := &r.State
	if (st.Status == exec.StatusRunning || st.Status == exec.StatusPaused) && !d.waiting[st.Pid] && startTicks(st.Pid) != r.StartTicks && !ourZombie(st.Pid) {
		st.Status, st.Pid, st.FinishedAt = exec.StatusStopped, 0, time.Now()
		st.Exit = exec.ExitStatus{Code: 137, Error: "exit status lost: the process ended while the driver was down"}
		return d.save(r)
	}
	return nil
}

func (d *Driver) Info(context.Context) (exec.Info, error) {
	return exec.Info{Name: Name, Capabilities: exec.Capabilities{Pause: true, Stats: true}}, nil
}

func (d *Driver) Create(_ context.Context, spec exec.ContainerSpec) (exec.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/.") {
		return exec.State{}, errdefs.InvalidParameter(fmt.Errorf("bad container id %q", spec.ID))
	}
	if len(spec.Process.Args) == 0 {
		return exec.State{}, errdefs.InvalidParameter(errors.New("no program to run"))
	}
	if _, err := osexec.LookPath(spec.Process.Args[0]); err != nil {
		return exec.State{}, errdefs.InvalidParameter(fmt.Errorf("exec: %q: executable file not found in $PATH", spec.Process.Args[0]))
	}
	if _, err := os.Stat(d.path(spec.ID)); err == nil {
		return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s already exists", spec.ID))
	}
	r := &record{Spec: spec, State: exec.State{ID: spec.ID, Status: exec.StatusCreated}}
	if err := d.save(r); err != nil {
		return exec.State{}, err
	}
	return r.State, nil
}

func (d *Driver) Start(_ context.Context, id string) (exec.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.load(id)
	if err != nil {
		return exec.State{}, err
	}
	if r.State.Status != exec.StatusCreated {
		return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s is %s, not created", id, r.State.Status))
	}
	p := r.Spec.Process
	cmd := osexec.Command(p.Args[0], p.Args[1:]...)
	cmd.Env, cmd.Dir = p.Env, p.Cwd
	// Its own session and no parent-death signal, as a supervisor: the
	// process must outlive this plugin process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return exec.State{}, errdefs.InvalidParameter(err)
	}
	r.State.Status, r.State.Pid, r.State.StartedAt = exec.StatusRunning, cmd.Process.Pid, time.Now()
	r.StartTicks = startTicks(cmd.Process.Pid)
	if err := d.save(r); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return exec.State{}, err
	}
	// The goroutine ends when the process does; it records the status.
	pid := cmd.Process.Pid
	d.waiting[pid] = true
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := errors.AsType[*osexec.ExitError](err); ok {
			ws := ee.Sys().(syscall.WaitStatus)
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.waiting, pid)
		if r, err := d.load(id); err == nil {
			r.State.Status, r.State.Pid, r.State.FinishedAt = exec.StatusStopped, 0, time.Now()
			r.State.Exit = exec.ExitStatus{Code: code}
			d.save(r)
		}
	}()
	return r.State, nil
}

// running loads id and checks that it is running (or paused, if allowed).
func (d *Driver) running(id string, paused bool) (*record, error) {
	r, err := d.load(id)
	if err != nil {
		return nil, err
	}
	if err := d.refresh(r); err != nil {
		return nil, err
	}
	if r.State.Status != exec.StatusRunning && !(paused && r.State.Status == exec.StatusPaused) {
		return nil, errdefs.Conflict(fmt.Errorf("container %s is %s, not running", id, r.State.Status))
	}
	// kill(2) of pid 0 or -1 would signal a whole group.
	if r.State.Pid <= 0 {
		return nil, errdefs.System(fmt.Errorf("container %s: bad pid %d in its state", id, r.State.Pid))
	}
	return r, nil
}

func (d *Driver) Signal(_ context.Context, id string, sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.running(id, true)
	if err != nil {
		return err
	}
	return syscall.Kill(r.State.Pid, sig)
}

func (d *Driver) State(_ context.Context, id string) (exec.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.load(id)
	if err != nil {
		return exec.State{}, err
	}
	if err := d.refresh(r); err != nil {
		return exec.State{}, err
	}
	return r.State, nil
}

func (d *Driver) Restore(context.Context) ([]exec.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names, err := filepath.Glob(filepath.Join(d.root, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []exec.State
	for _, n := range names {
		r, err := d.load(strings.TrimSuffix(filepath.Base(n), ".json"))
		if err != nil {
			return nil, err
		}
		if err := d.refresh(r); err != nil {
			return nil, err
		}
		out = append(out, r.State)
	}
	return out, nil
}

func (d *Driver) Delete(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.load(id)
	if err != nil {
		return err
	}
	if err := d.refresh(r); err != nil {
		return err
	}
	if s := r.State.Status; s == exec.StatusRunning || s == exec.StatusPaused {
		return errdefs.Conflict(fmt.Errorf("container %s is %s", id, s))
	}
	return os.Remove(d.path(id))
}

func (d *Driver) setPaused(id string, pause bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.running(id, !pause)
	if err != nil {
		return err
	}
	sig, status := syscall.SIGCONT, exec.StatusRunning
	if pause {
		sig, status = syscall.SIGSTOP, exec.StatusPaused
	} else if r.State.Status != exec.StatusPaused {
		return errdefs.Conflict(fmt.Errorf("container %s is not paused", id))
	}
	if err := syscall.Kill(r.State.Pid, sig); err != nil {
		return err
	}
	r.State.Status = status
	return d.save(r)
}

func (d *Driver) Pause(_ context.Context, id string) error  { return d.setPaused(id, true) }
func (d *Driver) Resume(_ context.Context, id string) error { return d.setPaused(id, false) }

func (d *Driver) Stats(_ context.Context, id string) (exec.Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.running(id, true)
	if err != nil {
		return exec.Stats{}, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.State.Pid))
	if err != nil {
		return exec.Stats{}, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// utime and stime are fields 14 and 15, in clock ticks (100 Hz on
	// Linux, USER_HZ); rss is field 24, in pages.
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	rss, _ := strconv.ParseUint(f[21], 10, 64)
	return exec.Stats{
		Read:        time.Now(),
		CPUTotal:    (utime + stime) * uint64(10*time.Millisecond),
		MemoryUsage: rss * uint64(os.Getpagesize()),
		Pids:        1,
	}, nil
}
