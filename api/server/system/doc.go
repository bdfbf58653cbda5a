// Package system serves the daemon-wide endpoints: /_ping, /version and
// /info (remote_api_v1.19.md §2.3 "Misc"), shaped for the requested version.
//
// It reads nothing from the host itself: the numbers come from the Backend,
// which core/daemon implements.
package system
