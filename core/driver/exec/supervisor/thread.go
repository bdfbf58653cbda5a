package supervisor

import "runtime"

// ForkThread runs functions on one OS thread that never exits. A Runtime
// forks the container's init (or whatever holds it) from there: a child's
// parent-death signal fires when the *thread* that forked it exits, not the
// process, and a Go thread exits whenever a goroutine locked to it returns
// (libcontainer itself does that). Forking from a ForkThread keeps the
// signal for the supervisor's death alone.
type ForkThread struct {
	calls chan func()
}

// NewForkThread starts the thread. It lives as long as the process.
func NewForkThread() *ForkThread {
	t := &ForkThread{calls: make(chan func())}
	go func() {
		runtime.LockOSThread()
		// Never unlocked and never returning, so the thread is never
		// handed back to the scheduler nor ended.
		for f := range t.calls {
			f()
		}
		select {}
	}()
	return t
}

// Do runs f on the thread and returns its error.
func (t *ForkThread) Do(f func() error) error {
	done := make(chan error, 1)
	t.calls <- func() { done <- f() }
	return <-done
}
