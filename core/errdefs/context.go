package errdefs

import (
	"context"
	"errors"
)

func contextClass(err error) Class {
	switch {
	case errors.Is(err, context.Canceled):
		return CanceledClass
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineClass
	}
	return Unknown
}
