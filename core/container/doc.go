// Package container is the container record and its on-disk store: what a
// container is (Docker 1.7's shape: Config, HostConfig, State, the paths of
// its files), how it is persisted (<root>/containers/<id>/config.json and
// hostconfig.json, written atomically), how it is named (Docker's name rule,
// conflicts, random "<adjective>_<surname>" names) and how a user's
// reference finds it (full id, exact name, unique id prefix).
//
// It holds no lifecycle logic and talks to no driver: core/daemon creates,
// starts and stops containers and records their state here. It knows
// nothing of HTTP; the API's wire shapes live in api/types.
package container
