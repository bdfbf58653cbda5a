package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	storagev1 "github.com/pluggd/pluggd/core/driver/storage/plugin/proto"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// Client is the daemon's side of one connection to a storage plugin: a
// storage.Driver whose methods are RPCs. Before using it as a driver, call
// Negotiate, then Init.
type Client struct {
	conn      grpc.ClientConnInterface
	rpc       storagev1.StorageClient
	sentinels []pluginrpc.Sentinel
	close     func() error

	// fds is the plugin's descriptor side channel, when the host made
	// one (OfferPipeStreams); pipes says the plugin accepted it at Init.
	fds   *pluginrpc.FDSender
	pipes bool
}

var _ storage.Driver = (*Client)(nil)

// NewClient returns a Client on conn. It does not own conn.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{conn: conn, rpc: storagev1.NewStorageClient(conn), sentinels: Sentinels()}
}

// Close releases what the Client owns (the in-process server of
// NewInProcess); for a Client on a go-plugin connection it does nothing.
func (c *Client) Close() error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

func (c *Client) err(ctx context.Context, err error) error {
	return pluginrpc.FromStatus(ctx, err, c.sentinels)
}

// Negotiate runs the application-level version negotiation and refuses a
// plugin of another kind, another major version, or a minor older than
// MinProtocolMinor with a *pluginrpc.VersionError naming label (the
// plugin's path) and both versions.
func (c *Client) Negotiate(ctx context.Context, label string) (pluginrpc.Version, error) {
	return pluginrpc.NegotiateKind(ctx, c.conn, pluginrpc.KindStorage, Version(), MinProtocolMinor, label)
}

// OfferPipeStreams makes Init offer the plugin tar streams through pipes
// passed on fds, the side channel the plugin process was started with.
// Call it before Init. The Client does not own fds.
func (c *Client) OfferPipeStreams(fds *pluginrpc.FDSender) { c.fds = fds }

// PipeStreams reports whether Init agreed with the plugin to send tar
// streams through pipes rather than as chunks.
func (c *Client) PipeStreams() bool { return c.pipes }

// Init starts the driver in the plugin (its Factory) and returns its Info.
func (c *Client) Init(ctx context.Context, opts storage.InitOptions) (storage.Info, error) {
	resp, err := c.rpc.Init(ctx, &storagev1.InitRequest{
		Home:                opts.Home,
		Options:             opts.Options,
		DaemonProtocolMinor: uint32(opts.DaemonProtocolMinor),
		PipeStreams:         c.fds != nil,
	})
	if err != nil {
		return storage.Info{}, c.err(ctx, err)
	}
	c.pipes = c.fds != nil && resp.GetPipeStreams()
	return infoFromProto(resp.GetInfo()), nil
}

func infoFromProto(i *storagev1.Info) storage.Info {
	return storage.Info{
		Name:    i.GetName(),
		Version: i.GetVersion(),
		Capabilities: storage.Capabilities{
			ByteExactDiff:    i.GetCapabilities().GetByteExactDiff(),
			LayerSize:        i.GetCapabilities().GetLayerSize(),
			ReferenceCounted: i.GetCapabilities().GetReferenceCounted(),
		},
	}
}

func (c *Client) Info(ctx context.Context) (storage.Info, error) {
	resp, err := c.rpc.Info(ctx, &storagev1.InfoRequest{})
	if err != nil {
		return storage.Info{}, c.err(ctx, err)
	}
	return infoFromProto(resp.GetInfo()), nil
}

func (c *Client) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	_, err := c.rpc.Create(ctx, &storagev1.CreateRequest{Id: id, Parent: parent, MountLabel: opts.MountLabel, StorageOpt: opts.StorageOpt})
	return c.err(ctx, err)
}

func (c *Client) Remove(ctx context.Context, id string) error {
	_, err := c.rpc.Remove(ctx, &storagev1.RemoveRequest{Id: id})
	return c.err(ctx, err)
}

func (c *Client) Get(ctx context.Context, id string, opts storage.GetOptions) (string, error) {
	resp, err := c.rpc.Get(ctx, &storagev1.GetRequest{Id: id, MountLabel: opts.MountLabel})
	if err != nil {
		return "", c.err(ctx, err)
	}
	return resp.GetPath(), nil
}

func (c *Client) Put(ctx context.Context, id string) error {
	_, err := c.rpc.Put(ctx, &storagev1.PutRequest{Id: id})
	return c.err(ctx, err)
}

func (c *Client) Exists(ctx context.Context, id string) (bool, error) {
	resp, err := c.rpc.Exists(ctx, &storagev1.ExistsRequest{Id: id})
	if err != nil {
		return false, c.err(ctx, err)
	}
	return resp.GetExists(), nil
}

func (c *Client) Status(ctx context.Context) ([]storage.StatusPair, error) {
	resp, err := c.rpc.Status(ctx, &storagev1.StatusRequest{})
	if err != nil {
		return nil, c.err(ctx, err)
	}
	pairs := make([]storage.StatusPair, 0, len(resp.GetPairs()))
	for _, p := range resp.GetPairs() {
		pairs = append(pairs, storage.StatusPair{Key: p.GetKey(), Value: p.GetValue()})
	}
	return pairs, nil
}

func (c *Client) Cleanup(ctx context.Context) error {
	_, err := c.rpc.Cleanup(ctx, &storagev1.CleanupRequest{})
	return c.err(ctx, err)
}

func (c *Client) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	resp, err := c.rpc.Changes(ctx, &storagev1.ChangesRequest{Id: id, Parent: parent})
	if err != nil {
		return nil, c.err(ctx, err)
	}
	changes := make([]storage.Change, 0, len(resp.GetChanges()))
	for _, ch := range resp.GetChanges() {
		changes = append(changes, storage.Change{Path: ch.GetPath(), Kind: storage.ChangeKind(ch.GetKind())})
	}
	return changes, nil
}

func (c *Client) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	resp, err := c.rpc.DiffSize(ctx, &storagev1.DiffSizeRequest{Id: id, Parent: parent})
	if err != nil {
		return 0, c.err(ctx, err)
	}
	return resp.GetSize(), nil
}

// Diff (through a pipe when Init agreed on it: see pipe.go) waits for the
// plugin's first, empty message, so that an error
// opening the stream (a missing layer) is returned here rather than from
// the first Read. The stream lives until the reader is closed or ctx ends;
// closing it early cancels the call, which closes the driver's stream.
func (c *Client) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	if c.pipes {
		if rc, err, ok := c.diffPipe(ctx, id, parent); ok {
			return rc, err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.Diff(sctx, &storagev1.DiffRequest{Id: id, Parent: parent})
	if err != nil {
		cancel()
		return nil, c.err(ctx, err)
	}
	if _, err := stream.Recv(); err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, errdefs.System(fmt.Errorf("storage plugin ended Diff of %s without opening it", id))
		}
		return nil, c.err(ctx, err)
	}
	return &diffReader{ctx: ctx, c: c, stream: stream, cancel: cancel}, nil
}

type diffReader struct {
	ctx     context.Context
	c       *Client
	stream  grpc.ServerStreamingClient[storagev1.Chunk]
	cancel  context.CancelFunc
	pending []byte
	err     error
	once    sync.Once
}

func (r *diffReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			} else {
				r.err = r.c.err(r.ctx, err)
			}
			r.cancel()
			continue
		}
		r.pending = msg.GetData()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *diffReader) Close() error {
	r.once.Do(r.cancel)
	return nil
}

// ApplyDiff sends the header, then diff in chunks of storage.ChunkSize
// (or through a pipe, when Init agreed on it: see pipe.go).
// Send blocks while the plugin's flow-control window is full, so diff is
// read only as fast as the driver unpacks. When the plugin ends the call
// early (an error), Send reports io.EOF and CloseAndRecv has the status.
// An error reading diff cancels the call and is returned as is.
func (c *Client) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	if c.pipes {
		if n, err, ok := c.applyDiffPipe(ctx, id, parent, diff); ok {
			return n, err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ApplyDiff(sctx)
	if err != nil {
		return 0, c.err(ctx, err)
	}
	header := &storagev1.ApplyDiffRequest{Msg: &storagev1.ApplyDiffRequest_Header{Header: &storagev1.ApplyDiffHeader{Id: id, Parent: parent}}}
	if err := stream.Send(header); err != nil {
		return c.finishApply(ctx, stream, err)
	}
	for {
		// A fresh buffer per message: gRPC may keep a sent message
		// after Send returns (its SendMsg documentation).
		buf := make([]byte, storage.ChunkSize)
		n, rerr := io.ReadFull(diff, buf)
		if n > 0 {
			msg := &storagev1.ApplyDiffRequest{Msg: &storagev1.ApplyDiffRequest_Chunk{Chunk: buf[:n]}}
			if err := stream.Send(msg); err != nil {
				return c.finishApply(ctx, stream, err)
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return c.finishApply(ctx, stream, nil)
		default:
			cancel()
			return 0, fmt.Errorf("reading the tar stream for layer %s: %w", id, rerr)
		}
	}
}

func (c *Client) finishApply(ctx context.Context, stream grpc.ClientStreamingClient[storagev1.ApplyDiffRequest, storagev1.ApplyDiffResponse], sendErr error) (int64, error) {
	// io.EOF from Send means the server already ended the call; the real
	// outcome is in CloseAndRecv. Any other Send error is the outcome.
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		return 0, c.err(ctx, sendErr)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, c.err(ctx, err)
	}
	return resp.GetSize(), nil
}
