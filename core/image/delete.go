package image

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/reference"
)

// ImageUser is a container built on an image, as the container store
// reports it to Delete.
type ImageUser struct {
	ContainerID string
	ImageID     string
	Running     bool
}

// Delete untags or removes the image name designates (DELETE
// /images/{name}), following Docker 1.7's daemon/image_delete.go:
//
//   - by repo[:tag]: that tag goes; the image goes too when it was its last
//     name and no image has it as parent;
//   - by id: all its tags go (refused without force when they span several
//     repositories), then the image; an image with children is a conflict;
//   - untagged parents left without children are pruned unless noprune;
//   - an image a container uses is a conflict (running: even with force).
//
// The metadata changes commit in one transaction; the driver layers are
// removed afterwards, child first. A removal that fails is logged and
// retried at the next start.
func (s *Service) Delete(ctx context.Context, name string, force, noprune bool) ([]DeleteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var users []ImageUser
	if s.imageUsers != nil {
		var err error
		if users, err = s.imageUsers(ctx); err != nil {
			return nil, fmt.Errorf("delete %s: listing containers: %w", name, err)
		}
	}
	var (
		rows    []DeleteResult
		removed []string
		imageID string // the image whose tags the untag rows are
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		rows, removed = nil, nil
		id, err := resolve(tx, name)
		if err != nil {
			return err
		}
		imageID = id
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		if recs[id] == nil {
			return errNoSuchImage(name)
		}
		tags, err := tagsByID(tx)
		if err != nil {
			return err
		}
		kids := children(recs)
		refs := tags[id]

		// Was the name a tag of the image, or its id?
		var untag []reference.Ref
		if r, err := reference.Parse(name); err == nil && getTag(tx, r) == id {
			untag = []reference.Ref{r}
		} else {
			if len(kids[id]) > 0 {
				// Docker 1.7 untagged first and then failed; refusing
				// before any change keeps the request atomic.
				return errdefs.Conflict(fmt.Errorf("Conflict, %s wasn't deleted", name))
			}
			repos := map[string]bool{}
			for _, r := range refs {
				repos[r.Name] = true
			}
			if len(repos) > 1 && !force {
				return errdefs.Conflict(fmt.Errorf("Conflict, cannot delete image %s because it is tagged in multiple repositories, use -f to force", name))
			}
			untag = refs
		}
		lastName := len(untag) == len(refs)
		if lastName {
			if err := checkUsers(recs, users, id, force, false); err != nil {
				return err
			}
		}
		for _, r := range untag {
			if _, err := deleteTag(tx, r); err != nil {
				return err
			}
			rows = append(rows, DeleteResult{Untagged: r.String()})
		}
		if !lastName {
			return nil
		}
		if len(kids[id]) > 0 {
			// Untagged by name; its children keep it.
			return nil
		}
		for cur := recs[id]; ; {
			if err := tx.Bucket(bucketImages).DeleteBucket([]byte(cur.ID)); err != nil {
				return err
			}
			if err := putPending(tx, cur.ID, pendingDelete); err != nil {
				return err
			}
			rows = append(rows, DeleteResult{Deleted: cur.ID})
			removed = append(removed, cur.ID)
			delete(recs, cur.ID)
			if noprune || cur.Parent == "" {
				return nil
			}
			parent := recs[cur.Parent]
			kids = children(recs)
			if parent == nil || len(tags[parent.ID]) > 0 || len(kids[parent.ID]) > 0 ||
				checkUsers(recs, users, parent.ID, force, true) != nil {
				return nil
			}
			cur = parent
		}
	})
	if err != nil {
		return nil, err
	}
	// Docker 1.7 logged untag with the image id, not the name removed.
	for _, row := range rows {
		if row.Untagged != "" {
			s.event("untag", imageID)
		} else {
			s.event("delete", row.Deleted)
		}
	}
	// The layers go after the records: a crash in between leaves pending
	// records, never an image without its layer.
	for _, id := range removed {
		s.forgetLayer(context.WithoutCancel(ctx), id)
	}
	return rows, nil
}

// checkUsers refuses to delete id while a container's image is id or one
// of its descendants (Docker 1.7 canDeleteImage). pruning makes any user a
// refusal, since pruning is never forced onto a used image.
func checkUsers(recs map[string]*Record, users []ImageUser, id string, force, pruning bool) error {
	for _, u := range users {
		seen := map[string]bool{}
		for cur := recs[u.ImageID]; cur != nil && !seen[cur.ID]; cur = recs[cur.Parent] {
			seen[cur.ID] = true
			if cur.ID != id {
				continue
			}
			switch {
			case pruning:
				return errdefs.Conflict(fmt.Errorf("image %s is used by container %s", short(id), short(u.ContainerID)))
			case u.Running && force:
				return errdefs.Conflict(fmt.Errorf("Conflict, cannot force delete %s because the running container %s is using it, stop it and retry", short(id), short(u.ContainerID)))
			case u.Running:
				return errdefs.Conflict(fmt.Errorf("Conflict, cannot delete %s because the running container %s is using it, stop it and use -f to force", short(id), short(u.ContainerID)))
			case !force:
				return errdefs.Conflict(fmt.Errorf("Conflict, cannot delete %s because the container %s is using it, use -f to force", short(id), short(u.ContainerID)))
			}
		}
	}
	return nil
}

// short is Docker's TruncateID: the first 12 characters.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
