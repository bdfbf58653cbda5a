package busybox

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

func TestTarIsDeterministicAndComplete(t *testing.T) {
	if _, err := os.Stat(DefaultBinary); err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
	a, err := Bytes(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bytes(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds differ")
	}
	want := map[string]byte{"bin/busybox": tar.TypeReg, "bin/sh": tar.TypeSymlink, "etc/passwd": tar.TypeReg, "tmp/": tar.TypeDir}
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if typ, ok := want[h.Name]; ok {
			if h.Typeflag != typ {
				t.Errorf("%s: type %c, want %c", h.Name, h.Typeflag, typ)
			}
			delete(want, h.Name)
		}
		if h.Name == "bin/sh" && h.Linkname != "busybox" {
			t.Errorf("bin/sh -> %q, want busybox", h.Linkname)
		}
	}
	if len(want) != 0 {
		t.Fatalf("missing entries: %v", want)
	}
}

func TestPadding(t *testing.T) {
	if _, err := os.Stat(DefaultBinary); err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
	small, _ := Bytes(Options{})
	big, err := Bytes(Options{Padding: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(big)-len(small) < 1<<20 {
		t.Fatalf("padding not added: %d vs %d", len(big), len(small))
	}
}
