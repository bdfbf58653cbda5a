package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/reference"
)

// ImportOptions are the arguments of Import (POST /images/create with
// fromSrc, DOCKER17.md §5).
type ImportOptions struct {
	// Src is "-" to read Body, or a URL to download (a URL without a
	// scheme gets http://; only http and https are accepted).
	Src  string
	Body io.Reader
	// Repo names the image if set; it may carry a tag ("busybox:1"). Tag,
	// when set, wins over one in Repo.
	Repo, Tag string
	// Message replaces the comment "Imported from <Src>".
	Message string
	// Changes are Dockerfile instructions applied to the image's config.
	Changes []string
	// Progress, if set, is told what the import is doing (the download of
	// a URL source). It is called from Import's goroutine.
	Progress func(Progress)
}

// Progress is one progress report of a running import, shaped after the
// JSON stream messages Docker sent ({"status","progressDetail"}).
type Progress struct {
	Status string
	// Current and Total are bytes; Total is 0 when unknown. Both are zero
	// for a plain status line.
	Current, Total int64
}

// progressEvery is how many bytes pass between progress reports (Docker's
// progressreader used 512 KiB).
const progressEvery = 512 << 10

// Import creates a parentless image from a tar stream, optionally tagged,
// and returns its id. The layer is written by the driver as the stream
// arrives. On any failure nothing is registered and the layer is removed;
// images that existed before are untouched.
func (s *Service) Import(ctx context.Context, opts ImportOptions) (string, error) {
	var ref *reference.Ref
	if opts.Repo != "" {
		r, err := reference.ParseWithTag(opts.Repo, opts.Tag)
		if err != nil {
			return "", err
		}
		ref = &r
	}
	// A tag without a repo is ignored, as Docker 1.7 did: clients send an
	// empty repo and tag alike when no name is given.
	// Docker 1.7 always built the imported config from the changes, so
	// imports carry a (possibly empty) config object, never null.
	cfg := &Config{}
	if err := applyChanges(cfg, opts.Changes); err != nil {
		return "", err
	}

	body, closeBody, err := s.source(ctx, opts)
	if err != nil {
		return "", err
	}
	defer closeBody()
	tarStream, err := decompress(body)
	if err != nil {
		return "", err
	}

	var id string
	if err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if id, err = newID(tx); err != nil {
			return err
		}
		// Recorded before the driver sees the id: a crash from here on
		// leaves a record that NewService uses to remove the layer.
		return putPending(tx, id, pendingImport)
	}); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The request may be cancelled; the cleanup must still run.
			s.forgetLayer(context.WithoutCancel(ctx), id)
		}
	}()

	if err := s.driver.Create(ctx, id, "", storage.CreateOptions{}); err != nil {
		return "", fmt.Errorf("import: create layer: %w", err)
	}
	size, err := s.driver.ApplyDiff(ctx, id, "", tarStream)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}

	comment := opts.Message
	if comment == "" {
		comment = "Imported from " + opts.Src
	}
	img := &Image{
		ID:            id,
		Comment:       comment,
		Created:       time.Now().UTC(),
		DockerVersion: s.dockerVersion,
		Config:        cfg,
		Architecture:  runtime.GOARCH,
		OS:            runtime.GOOS,
		Size:          size,
	}
	raw, err := encodeImage(img)
	if err != nil {
		return "", err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putRecord(tx, id, raw, size); err != nil {
			return err
		}
		if ref != nil {
			// Import moves an existing tag (Docker 1.7 tagged with force).
			if err := setTag(tx, *ref, id, true); err != nil {
				return err
			}
		}
		return deletePending(tx, id)
	}); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	committed = true
	s.event("import", importEventID(id, ref, opts))
	return id, nil
}

// importEventID is Docker 1.7's id for the import event (graph/import.go):
// the image id, with ":<tag>" when the client named a tag (in tag or in
// repo), not the repository.
func importEventID(id string, ref *reference.Ref, opts ImportOptions) string {
	if ref == nil {
		return id
	}
	if opts.Tag != "" || strings.HasSuffix(opts.Repo, ":"+ref.Tag) {
		return id + ":" + ref.Tag
	}
	return id
}

// source opens the stream to import: the request body, or a download
// bound to ctx.
func (s *Service) source(ctx context.Context, opts ImportOptions) (io.Reader, func(), error) {
	if opts.Src == "-" {
		if opts.Body == nil {
			return nil, nil, errdefs.InvalidParameter(errors.New("import: no body"))
		}
		return opts.Body, func() {}, nil
	}
	if opts.Src == "" {
		return nil, nil, errdefs.InvalidParameter(errors.New("import: fromSrc is empty"))
	}
	u, err := sourceURL(opts.Src)
	if err != nil {
		return nil, nil, err
	}
	report(opts.Progress, Progress{Status: "Downloading from " + u.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, errdefs.InvalidParameter(err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("import: download %s: %w", u, err)
	}
	// Docker's httputils.Download refused >= 400; so do we, with its words.
	if resp.StatusCode >= 400 {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("Got HTTP status code >= 400: %s", resp.Status)
	}
	var r io.Reader = resp.Body
	if opts.Progress != nil {
		r = &progressReader{r: resp.Body, total: max(resp.ContentLength, 0), report: opts.Progress}
	}
	return r, func() { resp.Body.Close() }, nil
}

// sourceURL normalises fromSrc: no scheme means http (Docker 1.7
// graph/import.go).
func sourceURL(src string) (*url.URL, error) {
	if !strings.Contains(src, "://") {
		src = "http://" + src
	}
	u, err := url.Parse(src)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("import: bad fromSrc %q: %w", src, err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errdefs.InvalidParameter(fmt.Errorf("import: fromSrc scheme %q is not supported (http and https only)", u.Scheme))
	}
	if u.Host == "" {
		return nil, errdefs.InvalidParameter(fmt.Errorf("import: fromSrc %q has no host", src))
	}
	return u, nil
}

func report(f func(Progress), p Progress) {
	if f != nil {
		f(p)
	}
}

// progressReader reports "Importing" progress while a download is read.
type progressReader struct {
	r            io.Reader
	current      int64
	total        int64
	lastReported int64
	report       func(Progress)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.current += int64(n)
	if p.current-p.lastReported >= progressEvery || (err == io.EOF && p.current != p.lastReported) {
		p.lastReported = p.current
		p.report(Progress{Status: "Importing", Current: p.current, Total: p.total})
	}
	return n, err
}
