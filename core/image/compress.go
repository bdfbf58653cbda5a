package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"

	"github.com/pluggd/pluggd/core/errdefs"
)

// decompress returns an uncompressed view of r, recognising gzip, bzip2
// and xz by their magic numbers as Docker's archive.DecompressStream did;
// anything else is passed through as a plain tar. The stream is never read
// into memory as a whole.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(6)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b, 0x08}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("import: bad gzip stream: %w", err))
		}
		return &classifyReader{r: zr, what: "gzip"}, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return &classifyReader{r: bzip2.NewReader(br), what: "bzip2"}, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("import: bad xz stream: %w", err))
		}
		return &classifyReader{r: zr, what: "xz"}, nil
	}
	return br, nil
}

// classifyReader marks a decompressor's errors as the client's fault (a
// corrupt archive), while errors of the underlying body (a dropped
// connection, a cancelled request) keep their own class.
type classifyReader struct {
	r    io.Reader
	what string
}

func (c *classifyReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && errdefs.ClassOf(err) == errdefs.Unknown {
		err = errdefs.InvalidParameter(fmt.Errorf("import: corrupt %s stream: %w", c.what, err))
	}
	return n, err
}
