package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	storagev1 "github.com/pluggd/pluggd/core/driver/storage/plugin/proto"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Register serves factory's driver on s: pluggd.storage.v1.Storage and
// pluggd.plugin.v1.Negotiation announcing this build's contract version.
func Register(s *grpc.Server, factory storage.Factory, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := NewServer(factory)
	storagev1.RegisterStorageServer(s, srv)
	pluginrpc.RegisterNegotiation(s, pluginrpc.Announcement{Kind: pluginrpc.KindStorage, Version: Version()}, log)
	return srv
}

// Server exposes a storage.Driver as pluggd.storage.v1.Storage. The driver
// is made by the Init call. Most code wants Register; Server is exported
// for plugins that register the services themselves.
type Server struct {
	storagev1.UnimplementedStorageServer
	factory   storage.Factory
	sentinels []pluginrpc.Sentinel
	// fds is the daemon's descriptor side channel, nil when it offered
	// none: tar streams then travel as chunks only.
	fds *pluginrpc.FDReceiver

	mu     sync.Mutex
	driver storage.Driver
}

// NewServer returns a Server whose Init calls factory.
func NewServer(factory storage.Factory) *Server {
	return &Server{factory: factory, sentinels: Sentinels()}
}

func (s *Server) status(err error) error { return pluginrpc.ToStatus(err, s.sentinels) }

func (s *Server) get() (storage.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.driver == nil {
		return nil, status.Error(codes.FailedPrecondition, "storage driver not initialised: Init was not called")
	}
	return s.driver, nil
}

func infoToProto(i storage.Info) *storagev1.Info {
	return &storagev1.Info{
		Name:    i.Name,
		Version: i.Version,
		Capabilities: &storagev1.Capabilities{
			ByteExactDiff:    i.Capabilities.ByteExactDiff,
			LayerSize:        i.Capabilities.LayerSize,
			ReferenceCounted: i.Capabilities.ReferenceCounted,
		},
	}
}

func (s *Server) Init(ctx context.Context, req *storagev1.InitRequest) (*storagev1.InitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.driver != nil {
		return nil, status.Error(codes.FailedPrecondition, "storage driver already initialised")
	}
	if s.factory == nil {
		return nil, status.Error(codes.Internal, "storage plugin has no factory")
	}
	d, err := s.factory(ctx, storage.InitOptions{
		Home:                req.GetHome(),
		Options:             req.GetOptions(),
		DaemonProtocolMinor: int(req.GetDaemonProtocolMinor()),
	})
	if err != nil {
		return nil, s.status(err)
	}
	info, err := d.Info(ctx)
	if err != nil {
		return nil, s.status(err)
	}
	s.driver = d
	// Accept pipes for tar streams when the daemon offers them and it
	// gave us the channel to pass them on.
	pipes := req.GetPipeStreams() && s.fds != nil
	return &storagev1.InitResponse{Info: infoToProto(info), PipeStreams: pipes}, nil
}

func (s *Server) Info(ctx context.Context, _ *storagev1.InfoRequest) (*storagev1.InfoResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	info, err := d.Info(ctx)
	if err != nil {
		return nil, s.status(err)
	}
	return &storagev1.InfoResponse{Info: infoToProto(info)}, nil
}

func (s *Server) Create(ctx context.Context, req *storagev1.CreateRequest) (*storagev1.CreateResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	opts := storage.CreateOptions{MountLabel: req.GetMountLabel(), StorageOpt: req.GetStorageOpt()}
	if err := d.Create(ctx, req.GetId(), req.GetParent(), opts); err != nil {
		return nil, s.status(err)
	}
	return &storagev1.CreateResponse{}, nil
}

func (s *Server) Remove(ctx context.Context, req *storagev1.RemoveRequest) (*storagev1.RemoveResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	if err := d.Remove(ctx, req.GetId()); err != nil {
		return nil, s.status(err)
	}
	return &storagev1.RemoveResponse{}, nil
}

func (s *Server) Get(ctx context.Context, req *storagev1.GetRequest) (*storagev1.GetResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	path, err := d.Get(ctx, req.GetId(), storage.GetOptions{MountLabel: req.GetMountLabel()})
	if err != nil {
		return nil, s.status(err)
	}
	return &storagev1.GetResponse{Path: path}, nil
}

func (s *Server) Put(ctx context.Context, req *storagev1.PutRequest) (*storagev1.PutResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	if err := d.Put(ctx, req.GetId()); err != nil {
		return nil, s.status(err)
	}
	return &storagev1.PutResponse{}, nil
}

func (s *Server) Exists(ctx context.Context, req *storagev1.ExistsRequest) (*storagev1.ExistsResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	ok, err := d.Exists(ctx, req.GetId())
	if err != nil {
		return nil, s.status(err)
	}
	return &storagev1.ExistsResponse{Exists: ok}, nil
}

func (s *Server) Status(ctx context.Context, _ *storagev1.StatusRequest) (*storagev1.StatusResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	pairs, err := d.Status(ctx)
	if err != nil {
		return nil, s.status(err)
	}
	resp := &storagev1.StatusResponse{}
	for _, p := range pairs {
		resp.Pairs = append(resp.Pairs, &storagev1.StatusPair{Key: p.Key, Value: p.Value})
	}
	return resp, nil
}

func (s *Server) Cleanup(ctx context.Context, _ *storagev1.CleanupRequest) (*storagev1.CleanupResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	if err := d.Cleanup(ctx); err != nil {
		return nil, s.status(err)
	}
	return &storagev1.CleanupResponse{}, nil
}

func (s *Server) Changes(ctx context.Context, req *storagev1.ChangesRequest) (*storagev1.ChangesResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	changes, err := d.Changes(ctx, req.GetId(), req.GetParent())
	if err != nil {
		return nil, s.status(err)
	}
	resp := &storagev1.ChangesResponse{Changes: make([]*storagev1.Change, 0, len(changes))}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, &storagev1.Change{Path: c.Path, Kind: int32(c.Kind)})
	}
	return resp, nil
}

func (s *Server) DiffSize(ctx context.Context, req *storagev1.DiffSizeRequest) (*storagev1.DiffSizeResponse, error) {
	d, err := s.get()
	if err != nil {
		return nil, err
	}
	n, err := d.DiffSize(ctx, req.GetId(), req.GetParent())
	if err != nil {
		return nil, s.status(err)
	}
	return &storagev1.DiffSizeResponse{Size: n}, nil
}

// Diff sends an empty first message once the driver opened the stream,
// then the stream in chunks of storage.ChunkSize. Send blocks while the
// client's flow-control window is full, which is the back-pressure: the
// driver's reader is only read as fast as the daemon consumes. When the
// client cancels, Send fails and the deferred Close aborts the driver's
// stream.
func (s *Server) Diff(req *storagev1.DiffRequest, stream grpc.ServerStreamingServer[storagev1.Chunk]) error {
	var pipe *os.File
	if tok := req.GetPipeToken(); tok != 0 {
		f, err := s.claim(stream.Context(), tok)
		if err != nil {
			return err
		}
		defer f.Close()
		pipe = f
	}
	d, err := s.get()
	if err != nil {
		return err
	}
	rc, err := d.Diff(stream.Context(), req.GetId(), req.GetParent())
	if err != nil {
		return s.status(err)
	}
	defer rc.Close()
	if pipe != nil {
		return s.diffToPipe(pipe, rc, stream)
	}
	if err := stream.Send(&storagev1.Chunk{}); err != nil {
		return err
	}
	for {
		// A fresh buffer per message: gRPC may keep a sent message
		// after Send returns (its SendMsg documentation).
		buf := make([]byte, storage.ChunkSize)
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 {
			if err := stream.Send(&storagev1.Chunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return s.status(rerr)
		}
	}
}

// ApplyDiff hands the driver a reader over the incoming chunks; each Read
// receives at most one message, so nothing is buffered beyond gRPC's
// flow-control window.
func (s *Server) ApplyDiff(stream grpc.ClientStreamingServer[storagev1.ApplyDiffRequest, storagev1.ApplyDiffResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return s.status(errdefs.InvalidParameter(errors.New("ApplyDiff: the first message must be the header")))
	}
	var pipe *os.File
	if tok := h.GetPipeToken(); tok != 0 {
		f, err := s.claim(stream.Context(), tok)
		if err != nil {
			return err
		}
		defer f.Close()
		pipe = f
	}
	d, err := s.get()
	if err != nil {
		return err
	}
	if pipe != nil {
		return s.applyDiffFromPipe(d, h, pipe, stream)
	}
	r := &chunkReader{recv: stream.Recv}
	n, err := d.ApplyDiff(stream.Context(), h.GetId(), h.GetParent(), r)
	if err != nil {
		return s.status(err)
	}
	return stream.SendAndClose(&storagev1.ApplyDiffResponse{Size: n})
}

type chunkReader struct {
	recv    func() (*storagev1.ApplyDiffRequest, error)
	pending []byte
	err     error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			} else {
				r.err = fmt.Errorf("receiving the tar stream: %w", err)
			}
			continue
		}
		if msg.GetHeader() != nil {
			r.err = errdefs.InvalidParameter(errors.New("ApplyDiff: a second header in the stream"))
			continue
		}
		r.pending = msg.GetChunk()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}
