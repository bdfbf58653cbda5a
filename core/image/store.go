package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/reference"
)

// Bucket layout of images.db:
//
//	images/<id>/json      the image JSON v1, raw
//	images/<id>/size      the layer's size in bytes, decimal
//	repositories/<name>/<tag> = <id>   name is the normalised repository
//	pending/<layer id>    = pendingLayer JSON: a driver layer that no image
//	                        record owns (an import in progress, or a deleted
//	                        image whose layer is still to be removed)
var (
	bucketImages  = []byte("images")
	bucketRepos   = []byte("repositories")
	bucketPending = []byte("pending")
	keyJSON       = []byte("json")
	keySize       = []byte("size")
)

// Why a layer is pending.
const (
	pendingImport = "import"
	pendingDelete = "delete"
)

type pendingLayer struct {
	Op   string    `json:"op"`
	Time time.Time `json:"time"`
}

// idRE is the rule stored ids must follow (DOCKER17.md §8).
var (
	idRE       = regexp.MustCompile(`^[a-f0-9]{64}$`)
	idPrefixRE = regexp.MustCompile(`^[a-f0-9]{1,64}$`)
)

func createBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketImages, bucketRepos, bucketPending} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// getRecord reads image id; a missing image is (nil, nil).
func getRecord(tx *bolt.Tx, id string) (*Record, error) {
	b := tx.Bucket(bucketImages).Bucket([]byte(id))
	if b == nil {
		return nil, nil
	}
	return decodeRecord(id, b)
}

func decodeRecord(id string, b *bolt.Bucket) (*Record, error) {
	raw := bytes.Clone(b.Get(keyJSON))
	rec := &Record{Raw: raw}
	if err := json.Unmarshal(raw, &rec.Image); err != nil {
		return nil, fmt.Errorf("image %s: corrupt stored JSON: %w", id, err)
	}
	// The stored JSON may come from elsewhere (load) without an id or with
	// another size; the bucket key and the measured size are the truth.
	rec.ID = id
	if s := b.Get(keySize); s != nil {
		if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
			rec.Size = n
		}
	}
	return rec, nil
}

func putRecord(tx *bolt.Tx, id string, raw []byte, size int64) error {
	b, err := tx.Bucket(bucketImages).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	if err := b.Put(keyJSON, raw); err != nil {
		return err
	}
	return b.Put(keySize, []byte(strconv.FormatInt(size, 10)))
}

// allRecords reads every image.
func allRecords(tx *bolt.Tx) (map[string]*Record, error) {
	out := map[string]*Record{}
	err := tx.Bucket(bucketImages).ForEachBucket(func(k []byte) error {
		id := string(k)
		rec, err := decodeRecord(id, tx.Bucket(bucketImages).Bucket(k))
		if err != nil {
			return err
		}
		out[id] = rec
		return nil
	})
	return out, err
}

// tagsByID maps each image id to its references, sorted by familiar form.
func tagsByID(tx *bolt.Tx) (map[string][]reference.Ref, error) {
	out := map[string][]reference.Ref{}
	repos := tx.Bucket(bucketRepos)
	err := repos.ForEachBucket(func(name []byte) error {
		return repos.Bucket(name).ForEach(func(tag, id []byte) error {
			out[string(id)] = append(out[string(id)], reference.Ref{Name: string(name), Tag: string(tag)})
			return nil
		})
	})
	for _, refs := range out {
		sortRefs(refs)
	}
	return out, err
}

func sortRefs(refs []reference.Ref) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
}

func refStrings(refs []reference.Ref) []string {
	if len(refs) == 0 {
		return nil
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.String()
	}
	return out
}

// children maps each image id to the ids of the images whose parent it is.
func children(recs map[string]*Record) map[string][]string {
	out := map[string][]string{}
	for id, r := range recs {
		if r.Parent != "" {
			out[r.Parent] = append(out[r.Parent], id)
		}
	}
	return out
}

// virtualSize is the size of an image and all its parents.
func virtualSize(recs map[string]*Record, id string) int64 {
	var total int64
	seen := map[string]bool{}
	for cur := recs[id]; cur != nil && !seen[cur.ID]; cur = recs[cur.Parent] {
		seen[cur.ID] = true
		total += cur.Size
	}
	return total
}

func getTag(tx *bolt.Tx, r reference.Ref) string {
	b := tx.Bucket(bucketRepos).Bucket([]byte(r.Name))
	if b == nil {
		return ""
	}
	return string(b.Get([]byte(r.Tag)))
}

// setTag points r at id. Without force, moving a tag that names another
// image is a conflict with Docker 1.7's message (graph/tags.go). Re-tagging
// the image a tag already names is accepted, as Docker since 1.10 does.
func setTag(tx *bolt.Tx, r reference.Ref, id string, force bool) error {
	b, err := tx.Bucket(bucketRepos).CreateBucketIfNotExists([]byte(r.Name))
	if err != nil {
		return err
	}
	if old := string(b.Get([]byte(r.Tag))); old != "" && old != id && !force {
		return errdefs.Conflict(fmt.Errorf("Conflict: Tag %s is already set to image %s, if you want to replace it, please use -f option", r.Tag, old))
	}
	return b.Put([]byte(r.Tag), []byte(id))
}

// deleteTag removes r and reports whether it existed. An emptied repository
// is removed too, so that lookups stop knowing the name.
func deleteTag(tx *bolt.Tx, r reference.Ref) (bool, error) {
	repos := tx.Bucket(bucketRepos)
	b := repos.Bucket([]byte(r.Name))
	if b == nil || b.Get([]byte(r.Tag)) == nil {
		return false, nil
	}
	if err := b.Delete([]byte(r.Tag)); err != nil {
		return false, err
	}
	if k, _ := b.Cursor().First(); k == nil {
		if err := repos.DeleteBucket([]byte(r.Name)); err != nil {
			return false, err
		}
	}
	return true, nil
}

func putPending(tx *bolt.Tx, id, op string) error {
	v, err := json.Marshal(pendingLayer{Op: op, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPending).Put([]byte(id), v)
}

func deletePending(tx *bolt.Tx, id string) error {
	return tx.Bucket(bucketPending).Delete([]byte(id))
}

// errNoSuchImage is the NotFound error of every lookup, with Docker's text
// (the substring "no such" made Docker 1.7 answer 404, VERSIONS.md §1).
func errNoSuchImage(name string) error {
	return errdefs.NotFound(fmt.Errorf("No such image: %s", name))
}

// resolve finds the image a user's name designates, as Docker 1.7's
// TagStore.LookupImage did (DOCKER17.md §8): repo[:tag] first (tag
// defaulting to latest), then a full id, then a unique id prefix.
func resolve(tx *bolt.Tx, name string) (string, error) {
	if name == "" {
		return "", errdefs.InvalidParameter(errors.New("Image name can not be blank"))
	}
	if r, err := reference.Parse(name); err == nil {
		if id := getTag(tx, r); id != "" {
			return id, nil
		}
	}
	if !idPrefixRE.MatchString(name) {
		return "", errNoSuchImage(name)
	}
	images := tx.Bucket(bucketImages)
	if idRE.MatchString(name) {
		if images.Bucket([]byte(name)) != nil {
			return name, nil
		}
		return "", errNoSuchImage(name)
	}
	var found []string
	c := images.Cursor()
	for k, _ := c.Seek([]byte(name)); k != nil && bytes.HasPrefix(k, []byte(name)); k, _ = c.Next() {
		found = append(found, string(k))
		if len(found) > 1 {
			// Docker's truncindex error; a client error, not a server one.
			return "", errdefs.InvalidParameter(fmt.Errorf("Multiple IDs found with provided prefix: %s", name))
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return "", errNoSuchImage(name)
}
