package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Options configure a Service.
type Options struct {
	// Root is the image store's directory; images.db is kept there.
	Root string
	// Driver holds the image layers.
	Driver storage.Driver
	// Logger receives what cannot be returned to a caller (a layer that
	// could not be removed after its image was deleted). Nil discards.
	Logger *slog.Logger
	// DockerVersion is written as docker_version into new images.
	DockerVersion string
	// HTTPClient downloads `fromSrc` URLs. Nil means a client with no
	// overall timeout: the request's context bounds a download.
	HTTPClient *http.Client
	// ImageUsers, if set, lists the containers and their images, so that
	// Delete refuses to remove an image a container is built on. It is a
	// function, not a value, so that the daemon can wire the container
	// store created after this one.
	ImageUsers func(ctx context.Context) ([]ImageUser, error)
	// Events, if set, is told of Docker 1.7's image events once each
	// change is committed (DOCKER17.md §6): import, tag, untag, delete.
	Events EventLogger
}

// EventLogger records an event (core/events.Log does). It must not block:
// it is called on the request's path.
type EventLogger interface {
	Log(status, id, from string)
}

// Service is the image store. It is safe for concurrent use.
type Service struct {
	db            *bolt.DB
	driver        storage.Driver
	log           *slog.Logger
	dockerVersion string
	http          *http.Client
	imageUsers    func(ctx context.Context) ([]ImageUser, error)
	events        EventLogger
}

// NewService opens (or creates) the store under opts.Root and removes the
// driver layers that a crash left without an image: imports that never
// committed and deleted images whose layer removal did not happen.
func NewService(ctx context.Context, opts Options) (*Service, error) {
	if opts.Root == "" {
		return nil, errdefs.InvalidParameter(errors.New("image store: Root is required"))
	}
	if opts.Driver == nil {
		return nil, errdefs.InvalidParameter(errors.New("image store: Driver is required"))
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	// A timeout so that a second daemon on the same root fails instead of
	// hanging on bbolt's file lock.
	db, err := bolt.Open(filepath.Join(opts.Root, "images.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("image store: open %s: %w", filepath.Join(opts.Root, "images.db"), err)
	}
	if err := db.Update(createBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("image store: %w", err)
	}
	s := &Service{db: db, driver: opts.Driver, log: opts.Logger, dockerVersion: opts.DockerVersion, http: opts.HTTPClient, imageUsers: opts.ImageUsers, events: opts.Events}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.http == nil {
		s.http = &http.Client{}
	}
	if err := s.recoverPending(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// event logs an image event if the daemon asked for them.
func (s *Service) event(status, id string) {
	if s.events != nil {
		s.events.Log(status, id, "")
	}
}

// Close closes the metadata database. The driver is not the store's to
// close.
func (s *Service) Close() error { return s.db.Close() }

// Count returns the number of images, intermediate ones included, as
// /info's "Images" counted them in Docker 1.7.
func (s *Service) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEachBucket(func([]byte) error { n++; return nil })
	})
	return n, err
}

// recoverPending removes every pending layer from the driver and forgets
// it. A layer that an image record owns is never removed: the record wins
// (it can only happen if the pending record outlived a committed import,
// which the import's single transaction rules out, but a store must not
// delete data on a "cannot happen").
func (s *Service) recoverPending(ctx context.Context) error {
	var ids []string
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	}); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, id := range ids {
		var owned bool
		_ = s.db.View(func(tx *bolt.Tx) error {
			owned = tx.Bucket(bucketImages).Bucket([]byte(id)) != nil
			return nil
		})
		if !owned {
			if err := s.removeLayer(ctx, id); err != nil {
				// Logged and kept: the next start tries again.
				s.log.WarnContext(ctx, "image store: cannot remove leftover layer", "layer", id, "err", err)
				continue
			}
			s.log.InfoContext(ctx, "image store: removed leftover layer", "layer", id)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return deletePending(tx, id) }); err != nil {
			return fmt.Errorf("image store: %w", err)
		}
	}
	return nil
}

// removeLayer removes a driver layer; one that is already gone is fine.
func (s *Service) removeLayer(ctx context.Context, id string) error {
	err := s.driver.Remove(ctx, id)
	if err == nil || errors.Is(err, storage.ErrLayerNotFound) {
		return nil
	}
	return err
}

// forgetLayer removes a layer whose image is gone, then its pending record.
// A failure is logged, not returned: the record stays and NewService
// retries.
func (s *Service) forgetLayer(ctx context.Context, id string) {
	if err := s.removeLayer(ctx, id); err != nil {
		s.log.WarnContext(ctx, "image store: cannot remove layer, will retry at next start", "layer", id, "err", err)
		return
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return deletePending(tx, id) }); err != nil {
		s.log.WarnContext(ctx, "image store: cannot clear pending layer record", "layer", id, "err", err)
	}
}

// newID returns a random image id unknown to the store (DOCKER17.md §5:
// 32 random bytes in hex, drawn again when the first 12 characters are all
// digits, because the short id doubles as a hostname).
func newID(tx *bolt.Tx) (string, error) {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		id := hex.EncodeToString(b[:])
		if _, err := strconv.ParseUint(id[:12], 10, 64); err == nil {
			continue
		}
		if tx.Bucket(bucketImages).Bucket([]byte(id)) != nil || tx.Bucket(bucketPending).Get([]byte(id)) != nil {
			continue
		}
		return id, nil
	}
}

// Get returns the image name designates (repo[:tag], id or unique id
// prefix). Unknown names are NotFound errors.
func (s *Service) Get(ctx context.Context, name string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rec *Record
	err := s.db.View(func(tx *bolt.Tx) error {
		id, err := resolve(tx, name)
		if err != nil {
			return err
		}
		rec, err = getRecord(tx, id)
		if err == nil && rec == nil {
			err = errNoSuchImage(name)
		}
		return err
	})
	return rec, err
}

// Inspect returns an image with its virtual size and names.
func (s *Service) Inspect(ctx context.Context, name string) (*Details, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var d *Details
	err := s.db.View(func(tx *bolt.Tx) error {
		id, err := resolve(tx, name)
		if err != nil {
			return err
		}
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		rec := recs[id]
		if rec == nil {
			return errNoSuchImage(name)
		}
		tags, err := tagsByID(tx)
		if err != nil {
			return err
		}
		d = &Details{Record: *rec, VirtualSize: virtualSize(recs, id), RepoTags: refStrings(tags[id])}
		return nil
	})
	return d, err
}

// encodeImage is the raw form an image is stored in.
func encodeImage(img *Image) ([]byte, error) { return json.Marshal(img) }
