// Package server is pluggd's HTTP front: one echo instance serving the
// Docker Remote API v1.0–v1.19 on unix, tcp and systemd-activated sockets.
//
// It owns what every route shares: stripping and checking the /vX.Y prefix
// (VERSIONS.md §1), the response headers, request logging, and the single
// HTTPErrorHandler that turns errdefs classes into status codes with
// plain-text bodies. Routers (api/server/<resource>) register plain paths
// ("/images/json") through Register or Group; they never see the prefix and
// read the requested version with version.From(ctx).
//
// This package holds no daemon logic and imports nothing from core but
// errdefs: handlers reach the daemon through their own Backend interfaces.
package server
