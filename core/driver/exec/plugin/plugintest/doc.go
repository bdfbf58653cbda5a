// Package plugintest holds a fake execution driver for testing the exec
// wire and the plugin host without namespaces, cgroups or root: a
// "container" is the program of ContainerSpec.Process run as a plain host
// process in its own session (as a real driver's supervisor is), Pause and
// Resume are SIGSTOP and SIGCONT, Stats come from /proc. Its state is one
// JSON file per container under InitOptions.Root, so a relaunched plugin
// finds its processes again (Restore), identified by pid and start time.
// It has no supervisor: State.Supervisor stays empty. Do not use it
// outside tests.
package plugintest
