package plugin

import (
	"context"
	"fmt"
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
	execv1 "github.com/pluggd/pluggd/core/driver/exec/plugin/proto"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// Client is the daemon's side of one connection to an exec plugin: an
// exec.Driver whose methods are RPCs. Before using it as a driver, call
// Negotiate, then Init.
type Client struct {
	conn  grpc.ClientConnInterface
	rpc   execv1.ExecClient
	close func() error

	// plugin is the contract version the plugin announced in Negotiate
	// (zero before): calls added after it are refused without a round
	// trip, with both versions in the message.
	plugin pluginrpc.Version
	label  string
}

var (
	_ exec.Driver = (*Client)(nil)
	_ exec.Execer = (*Client)(nil)
)

// NewClient returns a Client on conn. It does not own conn.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{conn: conn, rpc: execv1.NewExecClient(conn)}
}

// Close releases what the Client owns (the in-process server of
// NewInProcess); for a Client on a go-plugin connection it does nothing.
func (c *Client) Close() error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

// Negotiate runs the application-level version negotiation and refuses a
// plugin of another kind, another major version, or a minor older than
// MinProtocolMinor with a *pluginrpc.VersionError naming label (the
// plugin's path) and both versions.
func (c *Client) Negotiate(ctx context.Context, label string) (pluginrpc.Version, error) {
	v, err := pluginrpc.NegotiateKind(ctx, c.conn, pluginrpc.KindExec, Version(), MinProtocolMinor, label)
	if err == nil {
		c.plugin, c.label = v, label
	}
	return v, err
}

// needs refuses a call added in minor version minor when the plugin
// announced an older one. Without a negotiation (tests that skip it) the
// call is made and an old plugin answers it as not implemented.
func (c *Client) needs(minor int, call string) error {
	if c.plugin.Major == 0 || c.plugin.Minor >= minor {
		return nil
	}
	return errdefs.NotImplemented(fmt.Errorf("exec plugin %q speaks contract %s, which has no %s: it needs v%d.%d", c.label, c.plugin, call, exec.ProtocolMajor, minor))
}

// Init starts the driver in the plugin (its Factory) and returns its Info.
func (c *Client) Init(ctx context.Context, opts exec.InitOptions) (exec.Info, error) {
	resp, err := c.rpc.Init(ctx, &execv1.InitRequest{
		Root:                opts.Root,
		Options:             opts.Options,
		DaemonProtocolMinor: uint32(opts.DaemonProtocolMinor),
	})
	if err != nil {
		return exec.Info{}, pluginrpc.FromStatus(ctx, err, nil)
	}
	return infoFromProto(resp.GetInfo()), nil
}

// unary makes one call and maps its error back to the driver's class;
// conv runs only on success.
func unary[Req, Resp, T any](ctx context.Context, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req, conv func(Resp) T) (T, error) {
	resp, err := call(ctx, req)
	if err != nil {
		var zero T
		return zero, pluginrpc.FromStatus(ctx, err, nil)
	}
	return conv(resp), nil
}

func stateOf(r *execv1.StateResponse) exec.State { return stateFromProto(r.GetState()) }

func none[T any](T) struct{} { return struct{}{} }

func (c *Client) Info(ctx context.Context) (exec.Info, error) {
	return unary(ctx, c.rpc.Info, &execv1.InfoRequest{}, func(r *execv1.InfoResponse) exec.Info { return infoFromProto(r.GetInfo()) })
}

func (c *Client) Create(ctx context.Context, spec exec.ContainerSpec) (exec.State, error) {
	return unary(ctx, c.rpc.Create, &execv1.CreateRequest{Spec: specToProto(spec)}, stateOf)
}

func (c *Client) Start(ctx context.Context, id string) (exec.State, error) {
	return unary(ctx, c.rpc.Start, &execv1.StartRequest{Id: id}, stateOf)
}

func (c *Client) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := unary(ctx, c.rpc.Signal, &execv1.SignalRequest{Id: id, Signal: signalToProto(sig)}, none)
	return err
}

func (c *Client) State(ctx context.Context, id string) (exec.State, error) {
	return unary(ctx, c.rpc.State, &execv1.StateRequest{Id: id}, stateOf)
}

func (c *Client) Restore(ctx context.Context) ([]exec.State, error) {
	return unary(ctx, c.rpc.Restore, &execv1.RestoreRequest{}, func(r *execv1.RestoreResponse) []exec.State {
		out := make([]exec.State, 0, len(r.GetStates()))
		for _, s := range r.GetStates() {
			out = append(out, stateFromProto(s))
		}
		return out
	})
}

func (c *Client) Delete(ctx context.Context, id string) error {
	_, err := unary(ctx, c.rpc.Delete, &execv1.DeleteRequest{Id: id}, none)
	return err
}

func (c *Client) Pause(ctx context.Context, id string) error {
	_, err := unary(ctx, c.rpc.Pause, &execv1.PauseRequest{Id: id}, none)
	return err
}

func (c *Client) Resume(ctx context.Context, id string) error {
	_, err := unary(ctx, c.rpc.Resume, &execv1.ResumeRequest{Id: id}, none)
	return err
}

func (c *Client) Stats(ctx context.Context, id string) (exec.Stats, error) {
	return unary(ctx, c.rpc.Stats, &execv1.StatsRequest{Id: id}, statsFromProto)
}

// Exec is exec.Execer's method, added in v1.1.
func (c *Client) Exec(ctx context.Context, id string, spec exec.ExecSpec) (exec.ExecState, error) {
	if err := c.needs(1, "Exec"); err != nil {
		return exec.ExecState{}, err
	}
	return unary(ctx, c.rpc.Exec, &execv1.ExecRequest{Id: id, Spec: execSpecToProto(spec)}, execStateFromProto)
}
