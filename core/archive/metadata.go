package archive

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

// recorder tees a layer stream through tar-split's disassembler, which
// keeps every byte of the stream except file payloads (headers, padding,
// the end-of-archive blocks) plus a CRC of each payload. With the files on
// disk that is enough to rebuild the stream byte for byte.
type recorder struct {
	final  string
	tmp    *os.File
	gz     *gzip.Writer
	packer *recordingPacker
	stream io.ReadCloser
	done   <-chan error
}

// recordingPacker remembers why the packer failed, to tell a duplicate
// entry (the stream's fault) from a full disk (the host's).
type recordingPacker struct {
	p   tsstorage.Packer
	mu  sync.Mutex
	err error
}

func (r *recordingPacker) AddEntry(e tsstorage.Entry) (int, error) {
	n, err := r.p.AddEntry(e)
	if err != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return n, err
}

func (r *recordingPacker) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		return nil
	}
	if errors.Is(r.err, tsstorage.ErrDuplicatePath) {
		return errdefs.InvalidParameter(fmt.Errorf("invalid layer tar: %w", r.err))
	}
	return fmt.Errorf("recording tar-split metadata: %w", r.err)
}

func startRecorder(path string, src io.Reader) (*recorder, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	gz := gzip.NewWriter(tmp)
	p := &recordingPacker{p: tsstorage.NewJSONPacker(gz)}
	stream, done, err := asm.NewInputTarStreamWithDone(src, p, nil)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &recorder{final: path, tmp: tmp, gz: gz, packer: p, stream: stream, done: done}, nil
}

// finish waits for the disassembler and, when err is nil, commits the
// metadata: write, fsync, rename over the final name, fsync the directory,
// so a crash leaves either the old file or the complete new one.
func (r *recorder) finish(err error) error {
	if err != nil {
		r.stream.Close()
	}
	derr := <-r.done
	if err == nil && derr != nil {
		if perr := r.packer.failure(); perr != nil {
			err = perr
		} else {
			err = errdefs.InvalidParameter(fmt.Errorf("invalid layer tar: %w", derr))
		}
	}
	if err == nil {
		err = r.gz.Close()
	}
	if err == nil {
		err = r.tmp.Sync()
	}
	if cerr := r.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(r.tmp.Name(), r.final)
	}
	if err != nil {
		os.Remove(r.tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(r.final))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Reassemble returns the tar stream that Apply unpacked into dir while
// recording metadataPath, byte for byte. File payloads are read from dir
// by name (never following a symlink out of it) and checked against the
// recorded CRCs: a file changed since Apply makes the stream fail. The
// caller closes the stream; closing early or cancelling ctx stops it.
func Reassemble(ctx context.Context, dir, metadataPath string) (io.ReadCloser, error) {
	mf, err := os.Open(metadataPath)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(mf)
	if err != nil {
		mf.Close()
		return nil, fmt.Errorf("tar-split metadata %s: %w", metadataPath, err)
	}
	t, err := openTree(dir)
	if err != nil {
		mf.Close()
		return nil, err
	}
	fg := treeFileGetter{t}
	return newPipeStream(ctx, func(w io.Writer) error {
		defer mf.Close()
		defer t.close()
		return asm.WriteOutputTarStream(fg, tsstorage.NewJSONUnpacker(gz), w)
	}), nil
}

// treeFileGetter opens the payload of an entry by its tar name, resolved
// as Apply resolved it.
type treeFileGetter struct{ t *tree }

func (g treeFileGetter) Get(name string) (io.ReadCloser, error) {
	rel, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	parent, base := splitRel(rel)
	pfd, err := g.t.openDir(parent)
	if err != nil {
		return nil, classify("open", parent, err)
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, classify("open", rel, err)
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// pipeStream runs a producer writing into a pipe. Close stops the producer
// (its next write fails) and waits for it, so nothing it holds outlives
// the stream.
type pipeStream struct {
	pr   *io.PipeReader
	done chan struct{}
}

var errStreamClosed = errors.New("stream closed by the reader")

func newPipeStream(ctx context.Context, produce func(w io.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	s := &pipeStream{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := produce(ctxWriter{ctx, pw})
		pw.CloseWithError(err)
	}()
	return s
}

func (s *pipeStream) Read(p []byte) (int, error) { return s.pr.Read(p) }

func (s *pipeStream) Close() error {
	s.pr.CloseWithError(errStreamClosed)
	<-s.done
	return nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
