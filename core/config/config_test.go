package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMissingDefaultFileMeansDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadFile(filepath.Join(t.TempDir(), "absent.toml"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("got %+v, want defaults", c)
	}
}

func TestMissingNamedFileIsAnError(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "absent.toml")
	if _, _, err := Load([]string{"--config", missing}, io.Discard); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want one naming %s", err, missing)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.Root != "/var/lib/pluggd" || c.ExecRoot != "/var/run/pluggd" || c.Pidfile != "/var/run/pluggd.pid" ||
		!reflect.DeepEqual(c.Hosts, []string{"unix:///var/run/pluggd.sock"}) ||
		c.Storage.Driver != "overlay" || c.Exec.Driver != "native" || c.Debug {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFile(t *testing.T) {
	t.Parallel()
	p := writeFile(t, `
root = "/srv/pluggd"
hosts = ["unix:///tmp/p.sock", "tcp://127.0.0.1:2375", "fd://"]
debug = true
[storage]
driver = "devicemapper"
options = ["dm.basesize=20G", "dm.fs=xfs"]
[exec]
plugin = "/opt/x/exec-acme"
driver = "acme"
`)
	c, err := LoadFile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Root = "/srv/pluggd"
	want.Hosts = []string{"unix:///tmp/p.sock", "tcp://127.0.0.1:2375", "fd://"}
	want.Debug = true
	want.Storage = Driver{Driver: "devicemapper", Options: Options{"dm.basesize=20G", "dm.fs=xfs"}}
	want.Exec = Driver{Driver: "acme", Plugin: "/opt/x/exec-acme"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if got := c.PluginBinary(KindExec); got != "/opt/x/exec-acme" {
		t.Errorf("exec plugin = %s", got)
	}
	c.PluginDir = "/usr/lib/pluggd"
	if got := c.PluginBinary(KindStorage); got != "/usr/lib/pluggd/storage-devmapper" {
		t.Errorf("storage plugin = %s", got)
	}
}

func TestOptionsTableKeepsFileOrder(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "[storage.options]\nzeta = \"1\"\nalpha = true\nmid = 3\n")
	c, err := LoadFile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Options{"zeta=1", "alpha=true", "mid=3"}); !reflect.DeepEqual(c.Storage.Options, want) {
		t.Fatalf("options = %q, want %q", c.Storage.Options, want)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	t.Parallel()
	p := writeFile(t, `
root = "/srv/file"
hosts = ["unix:///tmp/file.sock"]
[storage]
driver = "vfs"
options = ["a=1"]
`)
	c, f, err := Load([]string{"--config", p, "-g", "/srv/flag", "-H", "unix:///tmp/a.sock", "--host", "tcp://:4243",
		"-s", "overlay", "--storage-opt", "b=2", "--storage-opt", "c=3", "-e", "lxc", "--exec-opt", "x=y",
		"--exec-root", "/run/x", "-p", "/run/x.pid", "-D"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version {
		t.Fatal("version set")
	}
	want := Default()
	want.Root = "/srv/flag"
	want.ExecRoot = "/run/x"
	want.Pidfile = "/run/x.pid"
	want.Debug = true
	want.Hosts = []string{"unix:///tmp/a.sock", "tcp://0.0.0.0:4243"}
	want.Storage = Driver{Driver: "overlay", Options: Options{"b=2", "c=3"}}
	want.Exec = Driver{Driver: "lxc", Options: Options{"x=y"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	// --root is an alias of -g; flags not given leave the file's values.
	c, _, err = Load([]string{"--config", p, "--root", "/srv/alias"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/srv/alias" || c.Storage.Driver != "vfs" || !reflect.DeepEqual(c.Hosts, []string{"unix:///tmp/file.sock"}) {
		t.Fatalf("got %+v", c)
	}
}

func TestVersionAndHelpFlags(t *testing.T) {
	t.Parallel()
	_, f, err := Load([]string{"--version"}, io.Discard)
	if err != nil || !f.Version {
		t.Fatalf("--version: %v %+v", err, f)
	}
	var b strings.Builder
	if _, _, err := Load([]string{"-h"}, &b); !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "--storage-driver") {
		t.Fatalf("-h: %v\n%s", err, b.String())
	}
	if _, _, err := Load([]string{"--nope"}, io.Discard); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestUnknownKeyNamesFileKeyAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, key string
		line      int
	}{
		{"root = \"/x\"\n\nroots = \"/y\"\n", "roots", 3},
		{"[storage]\ndriver = \"overlay\"\n# c\n  drvier = \"x\"\n", "storage.drvier", 4},
		{"debug = false\n[storag]\ndriver = \"overlay\"\n", "storag", 2},
		{"storage.bogus = 1\n", "storage.bogus", 1},
	}
	for _, tc := range cases {
		p := writeFile(t, tc.body)
		_, err := LoadFile(p, true)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%q: err = %v, want a FileError", tc.body, err)
		}
		if fe.Key != tc.key || fe.Line != tc.line || fe.File != p {
			t.Errorf("%q: got key %q line %d file %s, want %q line %d", tc.body, fe.Key, fe.Line, fe.File, tc.key, tc.line)
		}
		if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, tc.key) {
			t.Errorf("message %q lacks file or key", msg)
		}
	}
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, want string
	}{
		{"debug = \"yes\"\n", ":1: key \"debug\""},       // type mismatch
		{"root = \"x\"\n\n", ":1: key \"root\""},         // relative path
		{"hosts = [\"ftp://x\"]\n", ":1: key \"hosts\""}, // bad protocol
		{"\n[storage]\ndriver = \"Over lay\"\n", ":3: key \"storage.driver\""},
		{"[exec]\noptions = [\"novalue\"]\n", ":2: key \"exec.options\""},
		{"root = \n", ":1: key \"root\""}, // syntax error
		{"[storage]\noptions = 3\n", "options"},
	}
	for _, tc := range cases {
		p := writeFile(t, tc.body)
		_, err := LoadFile(p, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: err = %v, want it to contain %q and the file name", tc.body, err, tc.want)
		}
	}
}

func TestParseHost(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"unix://":            "unix://" + DefaultUnixSocket,
		"unix:///tmp/x.sock": "unix:///tmp/x.sock",
		"tcp://127.0.0.1":    "tcp://127.0.0.1:2375",
		"tcp://:2376":        "tcp://0.0.0.0:2376",
		"0.0.0.0:4243":       "tcp://0.0.0.0:4243",
		"tcp://[::1]:2375":   "tcp://[::1]:2375",
		"fd://":              "fd://",
		"fd://3":             "fd://3",
	}
	for in, want := range good {
		if got, err := ParseHost(in); err != nil || got != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"unix://rel.sock", "udp://x:1", "tcp://x:99999", "tcp://x:1/p", "fd://1"} {
		if _, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) accepted", bad)
		}
	}
}

// The example file at the repository root documents every key with its
// default: parsing it must give exactly the defaults, and every key of
// Config must appear in it.
func TestExampleFileIsTheDefaults(t *testing.T) {
	t.Parallel()
	p := filepath.Join("..", "..", "config.toml.example")
	c, err := LoadFile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	// The example writes the empty lists out; they decode as empty, not nil.
	want.Labels, want.Storage.Options, want.Exec.Options = []string{}, Options{}, Options{}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("example = %+v\ndefaults = %+v", c, want)
	}
	data, _ := os.ReadFile(p)
	for _, key := range tomlKeys(reflect.TypeOf(Config{}), "") {
		k := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), k+" =") {
			t.Errorf("example does not document %s", key)
		}
	}
}

// The example's alternative exec driver line, uncommented, selects the lxc
// plugin; so does -e lxc over the example as it is.
func TestExampleExecDriverLxc(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "config.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	const native, lxc = "\ndriver = \"native\"\n", "\n# driver = \"lxc\"\n"
	if !strings.Contains(string(data), native) || !strings.Contains(string(data), lxc) {
		t.Fatalf("example lacks %q or %q", native, lxc)
	}
	edited := strings.Replace(strings.Replace(string(data), native, "\n", 1), lxc, "\ndriver = \"lxc\"\n", 1)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"file": {"--config", p, "--plugin-dir", "/usr/lib/pluggd"},
		"flag": {"--config", filepath.Join("..", "..", "config.toml.example"), "-e", "lxc", "--plugin-dir", "/usr/lib/pluggd"},
	} {
		c, _, err := Load(args, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Exec.Driver != "lxc" || c.PluginBinary(KindExec) != "/usr/lib/pluggd/exec-lxc" {
			t.Errorf("%s: exec driver %q, plugin %q; want lxc, /usr/lib/pluggd/exec-lxc", name, c.Exec.Driver, c.PluginBinary(KindExec))
		}
	}
}

func tomlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := prefix + f.Tag.Get("toml")
		if f.Type.Kind() == reflect.Struct {
			out = append(out, tomlKeys(f.Type, name+".")...)
			continue
		}
		out = append(out, name)
	}
	return out
}
