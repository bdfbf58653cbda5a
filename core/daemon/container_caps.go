package daemon

import (
	"fmt"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// capability is an optional behaviour of the exec driver
// (exec.Capabilities) that a request may need.
type capability int

const (
	capLxcConf capability = iota // HostConfig.LxcConf honoured
	capTty                       // Config.Tty: a terminal for the program
	capPause                     // pause and unpause
	capStats                     // resource usage samples
	capExec                      // docker exec: exec.Execer
)

// requireCapability is the one place the daemon refuses what its exec
// driver does not declare (exec contract, "Capabilities"): it decides by
// the driver's flags, never by its name, and names the driver the daemon
// runs. A setting of the request (LxcConf, Tty) is InvalidParameter (400:
// the client asked for what this daemon cannot give, and nothing was
// created); an operation (pause, stats, exec) is NotImplemented (500, as
// Docker 1.7 answered the stats and the exec its lxc driver could not
// give).
func (s *Containers) requireCapability(c capability) error {
	caps := s.execInfo.Capabilities
	var (
		have    bool
		what    string
		setting bool
	)
	switch c {
	case capLxcConf:
		have, what, setting = caps.LxcConf, "LxcConf", true
	case capTty:
		have, what, setting = caps.Tty, "Tty (a terminal for the container)", true
	case capPause:
		have, what = caps.Pause, "pause"
	case capStats:
		have, what = caps.Stats, "stats"
	case capExec:
		// A driver that declares Exec but does not implement Execer
		// breaks the contract; refusing it is kinder than a panic.
		_, isExecer := s.exec.(exec.Execer)
		have, what = caps.Exec && isExecer, "exec"
	default:
		panic(fmt.Sprintf("unknown capability %d", c))
	}
	if have {
		return nil
	}
	err := fmt.Errorf("%s is not supported by the %s execution driver this daemon runs", what, s.execInfo.Name)
	if setting {
		return errdefs.InvalidParameter(err)
	}
	return errdefs.NotImplemented(err)
}

// checkDriverCapabilities refuses a configuration the exec driver cannot
// run, at create and again at start (the daemon may have been restarted
// with another driver since the create, or the start body brings LxcConf).
func (s *Containers) checkDriverCapabilities(cfg *container.Config, hc *container.HostConfig) error {
	if hc != nil && len(hc.LxcConf) > 0 {
		if err := s.requireCapability(capLxcConf); err != nil {
			return err
		}
	}
	if cfg != nil && cfg.Tty {
		if err := s.requireCapability(capTty); err != nil {
			return err
		}
	}
	return nil
}

// execer returns the driver's Execer, or the refusal of a driver that does
// not declare exec. A plugin that negotiated contract v1.0 answers Exec
// itself with a NotImplemented error naming both versions.
func (s *Containers) execer() (exec.Execer, error) {
	if err := s.requireCapability(capExec); err != nil {
		return nil, err
	}
	return s.exec.(exec.Execer), nil
}
