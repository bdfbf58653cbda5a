package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/daemon/execconfig"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

func TestCheckDriverCapabilities(t *testing.T) {
	lxcConf := &container.HostConfig{LxcConf: container.LxcConf{{Key: "lxc.utsname", Value: "x"}}}
	tty := &container.Config{Tty: true}
	for _, c := range []struct {
		name  string
		caps  exec.Capabilities
		cfg   *container.Config
		hc    *container.HostConfig
		class errdefs.Class
		msg   string
	}{
		{"lxcconf refused", exec.Capabilities{Tty: true}, nil, lxcConf, errdefs.InvalidParameterClass, "LxcConf is not supported by the drv-1 execution driver"},
		{"lxcconf honoured", exec.Capabilities{LxcConf: true}, nil, lxcConf, errdefs.Unknown, ""},
		{"empty lxcconf is nothing asked", exec.Capabilities{}, nil, &container.HostConfig{LxcConf: container.LxcConf{}}, errdefs.Unknown, ""},
		{"tty refused", exec.Capabilities{LxcConf: true}, tty, nil, errdefs.InvalidParameterClass, "Tty (a terminal for the container) is not supported by the drv-1"},
		{"tty given", exec.Capabilities{Tty: true}, tty, lxcConf, errdefs.InvalidParameterClass, "LxcConf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Containers{execInfo: exec.Info{Name: "drv-1", Capabilities: c.caps}}
			err := s.checkDriverCapabilities(c.cfg, c.hc)
			if c.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if errdefs.ClassOf(err) != c.class || err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v (class %v), want class %v with %q", err, errdefs.ClassOf(err), c.class, c.msg)
			}
		})
	}
}

func TestRequireCapabilityOperations(t *testing.T) {
	s := &Containers{execInfo: exec.Info{Name: "drv-1", Capabilities: exec.Capabilities{Stats: true}}}
	if err := s.requireCapability(capStats); err != nil {
		t.Fatal(err)
	}
	err := s.requireCapability(capPause)
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "pause is not supported by the drv-1 execution driver") {
		t.Fatalf("pause without the capability: %v", err)
	}
}

// A driver without Capabilities.Exec is refused exec by name before any
// container is looked at, as Docker 1.7 refused exec under lxc; so is one
// that declares it without implementing exec.Execer.
func TestExecerRefusal(t *testing.T) {
	for _, c := range []struct {
		name string
		caps exec.Capabilities
	}{
		{"not declared", exec.Capabilities{Tty: true}},
		{"declared, not implemented", exec.Capabilities{Exec: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Containers{exec: driverWithoutExec{}, execInfo: exec.Info{Name: "drv-1", Capabilities: c.caps}}
			if _, err := s.execer(); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "exec is not supported by the drv-1 execution driver") {
				t.Fatalf("execer: %v", err)
			}
			_, err := s.ExecCreate(context.Background(), "any", execconfig.Config{Cmd: []string{"true"}})
			if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "drv-1") {
				t.Fatalf("ExecCreate: %v", err)
			}
		})
	}
}

// driverWithoutExec is a Driver that is no Execer; only its type matters.
type driverWithoutExec struct{ exec.Driver }
