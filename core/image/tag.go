package image

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/image/reference"
)

// Tag names the image name designates repo:tag (POST /images/{name}/tag).
// repo may carry the tag itself; an explicit tag wins. A tag that names
// another image moves only with force (409 otherwise).
func (s *Service) Tag(ctx context.Context, name, repo, tag string, force bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, err := reference.ParseWithTag(repo, tag)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		id, err := resolve(tx, name)
		if err != nil {
			return err
		}
		return setTag(tx, ref, id, force)
	}); err != nil {
		return err
	}
	// Docker 1.7 logged the new reference, not the image id.
	s.event("tag", ref.String())
	return nil
}
