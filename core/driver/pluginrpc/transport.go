package pluginrpc

import (
	"google.golang.org/grpc"
)

// HTTP/2 settings for the daemon–plugin connection, which is a unix socket
// between two processes on one host: no latency to hide, so the concern is
// CPU per byte of a tar stream, not bandwidth-delay product.
//
//   - Flow-control windows: gRPC's default starts at 64 KiB and grows with
//     its BDP estimator, which on a socket with near-zero RTT grows slowly,
//     so the sender stalls on WINDOW_UPDATEs many times per MiB. A fixed
//     window of a few chunks (the storage contract's chunks are 1 MiB)
//     keeps both sides busy. It also bounds what is in flight between a
//     stalled reader and its producer, which is the back-pressure the
//     contracts promise; the bound stays a few MiB.
//   - Buffers: gRPC's 32 KiB read and write buffers mean one syscall per
//     two 16 KiB frames; 256 KiB cuts syscalls by eight.
const (
	streamWindow = 4 << 20
	connWindow   = 8 << 20
	ioBuffer     = 256 << 10
)

// ServerOptions are the gRPC server options of a plugin, on top of
// go-plugin's own (see GRPCServer).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
	}
}

// GRPCServer is go-plugin's ServeConfig.GRPCServer for pluggd plugins: a
// gRPC server with go-plugin's options plus ServerOptions.
func GRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, ServerOptions()...)...)
}

// DialOptions are the daemon's gRPC dial options for a plugin connection
// (go-plugin's ClientConfig.GRPCDialOptions), the client half of
// ServerOptions.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBuffer),
		grpc.WithWriteBufferSize(ioBuffer),
	}
}
