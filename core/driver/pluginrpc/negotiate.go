package pluginrpc

import (
	"context"
	"fmt"
	"log/slog"

	pluginv1 "github.com/pluggd/pluggd/core/driver/pluginrpc/proto"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// Offer is what the daemon tells a plugin in the negotiation: the contract
// version it speaks for each kind it can host.
type Offer struct {
	Supported     map[string]Version
	DaemonVersion string
}

// Announcement is a plugin's answer: its kind and the contract version it
// was built against.
type Announcement struct {
	Kind    string
	Version Version
}

// RegisterNegotiation serves pluggd.plugin.v1.Negotiation on s, answering
// every offer with self, logging to log (nil: no logging). The plugin does
// not refuse a daemon: the daemon decides, because it is the one that can
// tell the operator.
func RegisterNegotiation(s *grpc.Server, self Announcement, log *slog.Logger) {
	pluginv1.RegisterNegotiationServer(s, &negotiationServer{self: self, log: log})
}

type negotiationServer struct {
	pluginv1.UnimplementedNegotiationServer
	self Announcement
	log  *slog.Logger
}

func (n *negotiationServer) Negotiate(ctx context.Context, req *pluginv1.NegotiateRequest) (*pluginv1.NegotiateResponse, error) {
	if n.log != nil {
		for _, kv := range req.GetSupported() {
			if kv.GetKind() == n.self.Kind {
				n.log.DebugContext(ctx, "negotiated", "daemon", req.GetDaemonVersion(),
					"daemon_contract", fmt.Sprintf("v%d.%d", kv.GetMajor(), kv.GetMinor()), "plugin_contract", n.self.Version.String())
			}
		}
	}
	return &pluginv1.NegotiateResponse{Plugin: &pluginv1.KindVersion{
		Kind:  n.self.Kind,
		Major: uint32(n.self.Version.Major),
		Minor: uint32(n.self.Version.Minor),
	}}, nil
}

// Negotiate makes the negotiation call on conn and returns the plugin's
// announcement. Errors are classified as by FromStatus.
func Negotiate(ctx context.Context, conn grpc.ClientConnInterface, offer Offer) (Announcement, error) {
	req := &pluginv1.NegotiateRequest{DaemonVersion: offer.DaemonVersion}
	for kind, v := range offer.Supported {
		req.Supported = append(req.Supported, &pluginv1.KindVersion{Kind: kind, Major: uint32(v.Major), Minor: uint32(v.Minor)})
	}
	resp, err := pluginv1.NewNegotiationClient(conn).Negotiate(ctx, req)
	if err != nil {
		return Announcement{}, fmt.Errorf("negotiating the contract version: %w", FromStatus(ctx, err, nil))
	}
	p := resp.GetPlugin()
	return Announcement{Kind: p.GetKind(), Version: Version{Major: int(p.GetMajor()), Minor: int(p.GetMinor())}}, nil
}

// NegotiateKind is the daemon's whole negotiation with a plugin it expects
// to be of kind, speaking ours: it refuses a plugin of another kind
// (InvalidParameter), another major version, or a minor older than
// minMinor (a *VersionError naming label, the plugin's path, and both
// versions). It returns the plugin's version.
func NegotiateKind(ctx context.Context, conn grpc.ClientConnInterface, kind string, ours Version, minMinor int, label string) (Version, error) {
	a, err := Negotiate(ctx, conn, Offer{Supported: map[string]Version{kind: ours}})
	if err != nil {
		return Version{}, err
	}
	if a.Kind != kind {
		return a.Version, errdefs.InvalidParameter(fmt.Errorf("plugin %q is a %s plugin, not a %s plugin", label, a.Kind, kind))
	}
	return a.Version, CheckVersion(kind, label, a.Version, ours, minMinor)
}
