package images

import (
	"context"

	"github.com/pluggd/pluggd/core/image"
)

// Backend is what this router needs from the image store; *image.Service
// implements it.
type Backend interface {
	Import(ctx context.Context, opts image.ImportOptions) (string, error)
	List(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	Inspect(ctx context.Context, name string) (*image.Details, error)
	History(ctx context.Context, name string) ([]image.HistoryEntry, error)
	Tag(ctx context.Context, name, repo, tag string, force bool) error
	Delete(ctx context.Context, name string, force, noprune bool) ([]image.DeleteResult, error)
}
