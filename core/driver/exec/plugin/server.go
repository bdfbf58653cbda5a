package plugin

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/pluggd/pluggd/core/driver/exec"
	execv1 "github.com/pluggd/pluggd/core/driver/exec/plugin/proto"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Register serves factory's driver on s: pluggd.exec.v1.Exec and
// pluggd.plugin.v1.Negotiation announcing this build's contract version.
func Register(s *grpc.Server, factory exec.Factory, log *slog.Logger) *Server {
	srv := NewServer(factory)
	execv1.RegisterExecServer(s, srv)
	pluginrpc.RegisterNegotiation(s, pluginrpc.Announcement{Kind: pluginrpc.KindExec, Version: Version()}, log)
	return srv
}

// Server exposes an exec.Driver as pluggd.exec.v1.Exec. The driver is made
// by the Init call. Most code wants Register; Server is exported for
// plugins that register the services themselves.
type Server struct {
	execv1.UnimplementedExecServer
	factory exec.Factory

	mu     sync.Mutex
	driver exec.Driver
}

// NewServer returns a Server whose Init calls factory.
func NewServer(factory exec.Factory) *Server { return &Server{factory: factory} }

// The exec contract has no sentinel errors: classes carry everything.
func wireErr(err error) error { return pluginrpc.ToStatus(err, nil) }

func (s *Server) get() (exec.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.driver == nil {
		return nil, status.Error(codes.FailedPrecondition, "exec driver not initialised: Init was not called")
	}
	return s.driver, nil
}

// serve runs f on the initialised driver and maps its error.
func serve[T any](s *Server, f func(exec.Driver) (T, error)) (T, error) {
	d, err := s.get()
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(d)
	if err != nil {
		var zero T
		return zero, wireErr(err)
	}
	return v, nil
}

func (s *Server) Init(ctx context.Context, req *execv1.InitRequest) (*execv1.InitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.driver != nil {
		return nil, status.Error(codes.FailedPrecondition, "exec driver already initialised")
	}
	if s.factory == nil {
		return nil, status.Error(codes.Internal, "exec plugin has no factory")
	}
	d, err := s.factory(ctx, exec.InitOptions{
		Root:                req.GetRoot(),
		Options:             req.GetOptions(),
		DaemonProtocolMinor: int(req.GetDaemonProtocolMinor()),
	})
	if err != nil {
		return nil, wireErr(err)
	}
	info, err := d.Info(ctx)
	if err != nil {
		return nil, wireErr(err)
	}
	s.driver = d
	return &execv1.InitResponse{Info: infoToProto(info)}, nil
}

func (s *Server) Info(ctx context.Context, _ *execv1.InfoRequest) (*execv1.InfoResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.InfoResponse, error) {
		info, err := d.Info(ctx)
		return &execv1.InfoResponse{Info: infoToProto(info)}, err
	})
}

func (s *Server) Create(ctx context.Context, req *execv1.CreateRequest) (*execv1.StateResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.StateResponse, error) {
		st, err := d.Create(ctx, specFromProto(req.GetSpec()))
		return &execv1.StateResponse{State: stateToProto(st)}, err
	})
}

func (s *Server) Start(ctx context.Context, req *execv1.StartRequest) (*execv1.StateResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.StateResponse, error) {
		st, err := d.Start(ctx, req.GetId())
		return &execv1.StateResponse{State: stateToProto(st)}, err
	})
}

func (s *Server) Signal(ctx context.Context, req *execv1.SignalRequest) (*execv1.SignalResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.SignalResponse, error) {
		return &execv1.SignalResponse{}, d.Signal(ctx, req.GetId(), signalFromProto(req.GetSignal()))
	})
}

func (s *Server) State(ctx context.Context, req *execv1.StateRequest) (*execv1.StateResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.StateResponse, error) {
		st, err := d.State(ctx, req.GetId())
		return &execv1.StateResponse{State: stateToProto(st)}, err
	})
}

func (s *Server) Restore(ctx context.Context, _ *execv1.RestoreRequest) (*execv1.RestoreResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.RestoreResponse, error) {
		states, err := d.Restore(ctx)
		resp := &execv1.RestoreResponse{}
		for _, st := range states {
			resp.States = append(resp.States, stateToProto(st))
		}
		return resp, err
	})
}

func (s *Server) Delete(ctx context.Context, req *execv1.DeleteRequest) (*execv1.DeleteResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.DeleteResponse, error) {
		return &execv1.DeleteResponse{}, d.Delete(ctx, req.GetId())
	})
}

func (s *Server) Pause(ctx context.Context, req *execv1.PauseRequest) (*execv1.PauseResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.PauseResponse, error) {
		return &execv1.PauseResponse{}, d.Pause(ctx, req.GetId())
	})
}

func (s *Server) Resume(ctx context.Context, req *execv1.ResumeRequest) (*execv1.ResumeResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.ResumeResponse, error) {
		return &execv1.ResumeResponse{}, d.Resume(ctx, req.GetId())
	})
}

func (s *Server) Stats(ctx context.Context, req *execv1.StatsRequest) (*execv1.StatsResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.StatsResponse, error) {
		st, err := d.Stats(ctx, req.GetId())
		return statsToProto(st), err
	})
}

// Exec serves exec.Execer (v1.1); a driver that does not implement it is
// answered as not implemented, which the client maps to NotImplemented.
func (s *Server) Exec(ctx context.Context, req *execv1.ExecRequest) (*execv1.ExecResponse, error) {
	return serve(s, func(d exec.Driver) (*execv1.ExecResponse, error) {
		x, ok := d.(exec.Execer)
		if !ok {
			return nil, errdefs.NotImplemented(errors.New("this exec driver does not implement exec"))
		}
		st, err := x.Exec(ctx, req.GetId(), execSpecFromProto(req.GetSpec()))
		return execStateToProto(st), err
	})
}
