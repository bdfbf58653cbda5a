package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// statusRecord is status.json: what a restarted driver needs to report a
// live container without asking the supervisor.
type statusRecord struct {
	Status    exec.Status `json:"status"`
	Pid       int         `json:"pid"`
	StartedAt time.Time   `json:"started_at"`
}

// SupervisorDiedCode is the exit code recorded for a container whose
// supervisor died without recording one: the container was killed with it
// (SIGKILL, 128+9).
const SupervisorDiedCode = 137

// ReadState reports the container whose supervisor uses stateDir, from the
// files there alone (no socket round trip, so it works for a hung or dead
// supervisor):
//
//   - exit.json present: StatusStopped with the recorded exit status;
//   - otherwise a live supervisor (pid alive, same start time, same boot):
//     StatusCreated or StatusRunning, with Supervisor set;
//   - otherwise StatusStopped, Exit.Code 137 and Exit.Error saying the
//     supervisor died before recording an exit status.
//
// A stateDir without a supervisor config is a NotFound error.
func ReadState(stateDir string) (exec.State, error) {
	cfg, err := LoadConfig(stateDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return exec.State{}, errdefs.NotFound(fmt.Errorf("no supervisor state in %s", stateDir))
		}
		return exec.State{}, err
	}
	st := exec.State{ID: cfg.ID}
	var status statusRecord
	if err := readJSON(stateDir, StatusFile, &status); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	st.StartedAt = status.StartedAt
	var ident Identity
	if err := readJSON(stateDir, IdentityFile, &ident); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	st.SupervisorPid = ident.Pid

	var exit exitRecord
	switch err := readJSON(stateDir, ExitFile, &exit); {
	case err == nil:
		st.Status = exec.StatusStopped
		st.Exit = exit.status()
		st.FinishedAt = exit.FinishedAt
		return st, nil
	case !errors.Is(err, fs.ErrNotExist):
		return st, err
	}
	if ident.Alive() {
		// The supervisor may have recorded the exit between our reading
		// exit.json and checking its identity: look again.
		if err := readJSON(stateDir, ExitFile, &exit); err == nil {
			st.Status = exec.StatusStopped
			st.Exit = exit.status()
			st.FinishedAt = exit.FinishedAt
			return st, nil
		}
		st.Status = status.Status
		if st.Status != exec.StatusRunning {
			st.Status = exec.StatusCreated
		}
		st.Pid = status.Pid
		st.Supervisor = cfg.Socket
		return st, nil
	}
	st.Status = exec.StatusStopped
	st.Exit = exec.ExitStatus{
		Code:  SupervisorDiedCode,
		Error: fmt.Sprintf("supervisor of container %s died (pid %d) before recording an exit status", cfg.ID, ident.Pid),
	}
	return st, nil
}
