package exectest

import (
	"fmt"
	"io"
	"sync"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

func concurrencyChecks() []check {
	return []check{
		{name: "SeveralAtOnce", run: checkSeveralAtOnce},
	}
}

// checkSeveralAtOnce: calls for different ids may be concurrent (the
// contract), and containers run side by side without mixing output or
// exit statuses.
func checkSeveralAtOnce(h *harness) {
	const n = 6
	specs := make([]exec.ContainerSpec, n)
	for i := range specs {
		specs[i] = h.spec("sh", "-c", fmt.Sprintf("seq 1 %d; exit %d", 1000*(i+1), 10+i))
		// Cleanup is registered here, on the test's goroutine.
		h.cleanupContainer(specs[i].ID)
	}
	type result struct {
		stdout string
		exit   exec.ExitStatus
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Go(func() {
			results[i].stdout, results[i].exit, results[i].err = runConcurrently(h, spec)
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			h.t.Errorf("container %d: %v", i, r.err)
			continue
		}
		if r.exit.Code != 10+i {
			h.t.Errorf("container %d exited with %+v, want code %d", i, r.exit, 10+i)
		}
		if r.stdout != seq(1, 1000*(i+1)) {
			h.t.Errorf("container %d: %d bytes of output, want seq 1 %d", i, len(r.stdout), 1000*(i+1))
		}
	}
	sts := h.restore()
	for _, spec := range specs {
		assertListed(h, sts, spec.ID, exec.StatusStopped)
	}
}

// runConcurrently is create, attach, start and wait without t.Fatal, which
// must not be called outside the test's goroutine.
func runConcurrently(h *harness, spec exec.ContainerSpec) (string, exec.ExitStatus, error) {
	ctx, cancel := h.callCtx()
	defer cancel()
	created, err := h.d.Create(ctx, spec)
	if err != nil {
		return "", exec.ExitStatus{}, fmt.Errorf("Create: %w", err)
	}
	c, err := supervisor.Dial(ctx, created.Supervisor)
	if err != nil {
		return "", exec.ExitStatus{}, fmt.Errorf("Dial: %w", err)
	}
	a, err := c.Attach(ctx, supervisor.AttachOptions{Stdout: true})
	if err != nil {
		return "", exec.ExitStatus{}, fmt.Errorf("Attach: %w", err)
	}
	defer a.Close()
	out := newSyncBuffer()
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, a.Stdout)
		copied <- err
	}()
	if _, err := h.d.Start(ctx, spec.ID); err != nil {
		return "", exec.ExitStatus{}, fmt.Errorf("Start: %w", err)
	}
	if err := <-copied; err != nil {
		return "", exec.ExitStatus{}, fmt.Errorf("reading stdout: %w", err)
	}
	exit, err := a.Exit()
	if err != nil {
		return "", exec.ExitStatus{}, err
	}
	return string(out.Bytes()), exit, nil
}
