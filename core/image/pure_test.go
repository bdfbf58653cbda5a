package image

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/reference"
)

func TestApplyChanges(t *testing.T) {
	t.Parallel()
	cfg := &Config{}
	err := applyChanges(cfg, []string{
		`CMD ["/bin/sh","-c","echo hi"]`,
		`ENTRYPOINT /entry.sh arg`,
		`ENV A 1 2`,
		`ENV B=x C="y z"`,
		`ENV A=3`,
		`WORKDIR /srv`,
		`USER nobody`,
		`EXPOSE 80 53/udp`,
		`LABEL com.example.v=1 "k 2"=v2`,
		`VOLUME ["/data"]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Cmd:          StrSlice{"/bin/sh", "-c", "echo hi"},
		Entrypoint:   StrSlice{"/bin/sh", "-c", "/entry.sh arg"},
		Env:          []string{"A=3", "B=x", "C=y z"},
		WorkingDir:   "/srv",
		User:         "nobody",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Labels:       map[string]string{"com.example.v": "1", "k 2": "v2"},
		Volumes:      map[string]struct{}{"/data": {}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	if err := applyChanges(&Config{}, []string{"RUN rm -rf /"}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("RUN accepted: %v", err)
	}
	if err := applyChanges(&Config{}, []string{"LABEL novalue"}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("bad LABEL accepted: %v", err)
	}
}

func TestStrSliceAcceptsStringAndArray(t *testing.T) {
	t.Parallel()
	var c Config
	if err := json.Unmarshal([]byte(`{"Cmd":"echo hi","Entrypoint":["a","b"]}`), &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Cmd, StrSlice{"echo hi"}) || !reflect.DeepEqual(c.Entrypoint, StrSlice{"a", "b"}) {
		t.Fatalf("%+v", c)
	}
	b, _ := json.Marshal(Config{})
	if !bytes.Contains(b, []byte(`"Cmd":null`)) {
		t.Fatalf("zero config encodes as %s", b)
	}
}

func TestDecompressDetectsFormats(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("tar bytes "), 1000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(payload)
	zw.Close()
	var xzb bytes.Buffer
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(payload)
	xw.Close()
	for name, in := range map[string][]byte{"plain": payload, "gzip": gz.Bytes(), "xz": xzb.Bytes()} {
		r, err := decompress(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	// A gzip stream cut short is the client's fault.
	r, err := decompress(bytes.NewReader(gz.Bytes()[:len(gz.Bytes())/2]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("truncated gzip: %v", err)
	}
	// Tiny or empty bodies are passed through to the driver to judge.
	if r, err := decompress(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	} else if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Fatal("empty body grew")
	}
}

func TestSourceURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com/x.tar":         "http://example.com/x.tar",
		"https://example.com/x.tar": "https://example.com/x.tar",
		"http://10.0.0.1:8080/a":    "http://10.0.0.1:8080/a",
	} {
		u, err := sourceURL(in)
		if err != nil || u.String() != want {
			t.Errorf("sourceURL(%q) = %v, %v", in, u, err)
		}
	}
	for _, in := range []string{"ftp://example.com/x", "file:///etc/passwd"} {
		if _, err := sourceURL(in); !errdefs.IsInvalidParameter(err) {
			t.Errorf("sourceURL(%q) = %v, want InvalidParameter", in, err)
		}
	}
}

func TestMatchLabels(t *testing.T) {
	t.Parallel()
	l := map[string]string{"a": "1", "b": ""}
	for f, want := range map[string]bool{"a": true, "a=1": true, "a=2": false, "b": true, "b=": true, "c": false} {
		if got := matchLabels(l, []string{f}); got != want {
			t.Errorf("%q: %v", f, got)
		}
	}
}

// resolve needs only the database: ambiguous prefixes and lookup order.
func TestResolveOrderAndAmbiguousPrefix(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "images.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := "abc1" + strings.Repeat("0", 60)
	b := "abc2" + strings.Repeat("0", 60)
	err = db.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		for _, id := range []string{a, b} {
			if err := putRecord(tx, id, []byte(`{"id":"`+id+`","container_config":{}}`), 0); err != nil {
				return err
			}
		}
		// A repository named like an id prefix wins over the prefix.
		return setTag(tx, reference.Ref{Name: "docker.io/library/abc1", Tag: "latest"}, b, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		for name, want := range map[string]string{"abc1": b, "abc10": a, a: a, "abc2": b} {
			if got, err := resolve(tx, name); err != nil || got != want {
				t.Errorf("resolve(%q) = %q, %v; want %q", name, got, err, want)
			}
		}
		if _, err := resolve(tx, "abc"); !errdefs.IsInvalidParameter(err) {
			t.Errorf("ambiguous: %v", err)
		}
		for _, name := range []string{"abd", "nope", strings.Repeat("f", 64), "x@sha256:" + strings.Repeat("0", 64)} {
			if _, err := resolve(tx, name); !errdefs.IsNotFound(err) || err.Error() != "No such image: "+name {
				t.Errorf("resolve(%q) = %v", name, err)
			}
		}
		return nil
	})
}

func TestNewIDAvoidsAllDigitShortIDs(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "images.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(createBuckets)
	db.View(func(tx *bolt.Tx) error {
		for range 200 {
			id, err := newID(tx)
			if err != nil || !idRE.MatchString(id) || strings.Trim(id[:12], "0123456789") == "" {
				t.Fatalf("newID = %q, %v", id, err)
			}
		}
		return nil
	})
}
