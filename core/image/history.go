package image

import (
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// History returns the image name designates and its parents, newest first
// (GET /images/{name}/history). CreatedBy is the command of the container
// the image was committed from, as Docker 1.7 showed it.
func (s *Service) History(ctx context.Context, name string) ([]HistoryEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []HistoryEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		id, err := resolve(tx, name)
		if err != nil {
			return err
		}
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		tags, err := tagsByID(tx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for cur := recs[id]; cur != nil && !seen[cur.ID]; cur = recs[cur.Parent] {
			seen[cur.ID] = true
			out = append(out, HistoryEntry{
				ID:        cur.ID,
				Created:   cur.Created,
				CreatedBy: strings.Join(cur.ContainerConfig.Cmd, " "),
				Tags:      refStrings(tags[cur.ID]),
				Size:      cur.Size,
				Comment:   cur.Comment,
			})
		}
		if len(out) == 0 {
			return errNoSuchImage(name)
		}
		return nil
	})
	return out, err
}
