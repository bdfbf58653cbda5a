package plugin

import (
	"context"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	"google.golang.org/grpc"
)

// NewInProcess runs factory's driver behind the real wire — a gRPC server
// with the storage and negotiation services, a gRPC client, a unix
// socketpair between them — without a subprocess. It negotiates, calls
// Init with opts and returns the Client; Close stops both ends. The
// conformance suite uses it to check that a driver means the same through
// the wire as in process.
func NewInProcess(ctx context.Context, factory storage.Factory, opts storage.InitOptions) (*Client, error) {
	return pluginrpc.InProcessClient(pluginrpc.KindStorage,
		func(s *grpc.Server) { Register(s, factory, nil) },
		func(cc *grpc.ClientConn, stop func() error) *Client {
			c := NewClient(cc)
			c.close = stop
			return c
		},
		func(c *Client) error {
			if _, err := c.Negotiate(ctx, "in-process"); err != nil {
				return err
			}
			_, err := c.Init(ctx, opts)
			return err
		})
}
