package errdefs

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClassSurvivesWrapping(t *testing.T) {
	base := errors.New("no such image: busybox")
	err := fmt.Errorf("lookup: %w", NotFound(base))
	if !IsNotFound(err) {
		t.Fatalf("IsNotFound(%v) = false", err)
	}
	if IsConflict(err) {
		t.Fatalf("IsConflict(%v) = true", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("the cause was lost")
	}
	if err.Error() != "lookup: no such image: busybox" {
		t.Fatalf("message changed: %q", err)
	}
}

func TestOutermostClassWins(t *testing.T) {
	err := Unavailable(fmt.Errorf("plugin died: %w", NotFound(errors.New("x"))))
	if got := ClassOf(err); got != UnavailableClass {
		t.Fatalf("ClassOf = %v, want unavailable", got)
	}
}

func TestContextErrors(t *testing.T) {
	if !IsCanceled(fmt.Errorf("op: %w", context.Canceled)) {
		t.Fatal("context.Canceled not recognised")
	}
	if !IsDeadline(context.DeadlineExceeded) {
		t.Fatal("context.DeadlineExceeded not recognised")
	}
	if ClassOf(errors.New("plain")) != Unknown {
		t.Fatal("plain error classified")
	}
	if Wrap(NotFoundClass, nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
}

type ownClass struct{}

func (ownClass) Error() string     { return "own" }
func (ownClass) ErrorClass() Class { return ConflictClass }

func TestSelfClassifiedAndJoined(t *testing.T) {
	if !IsConflict(fmt.Errorf("w: %w", ownClass{})) {
		t.Fatal("self-classified error not seen")
	}
	if !IsNotFound(errors.Join(errors.New("a"), NotFound(errors.New("b")))) {
		t.Fatal("joined error not seen")
	}
}
