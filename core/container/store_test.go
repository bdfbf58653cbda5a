package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/errdefs"
)

func newContainer(t *testing.T, s *Store, id, name string) *Container {
	t.Helper()
	if err := s.ReserveName(name, id); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.Dir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Container{Record: Record{ID: id, Name: name, Created: time.Now(), Config: &Config{Cmd: []string{"echo", "hi"}},
		HostConfig: &HostConfig{Binds: []string{"/a:/b"}, LxcConf: LxcConf{{"lxc.utsname", "x"}}}}}
	if err := s.Add(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, good := range []string{"ab", "/ab", "a.b-c_d", "9lives"} {
		if n, err := ValidateName(good); err != nil || !strings.HasPrefix(n, "/") {
			t.Errorf("%q: %q %v", good, n, err)
		}
	}
	for _, bad := range []string{"a", "_x", "/", "a/b", "a b", "", "-ab"} {
		_, err := ValidateName(bad)
		if !errdefs.IsInvalidParameter(err) || err.Error() != "Invalid container name ("+bad+"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if !IsFullID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestStoreLookup(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newContainer(t, s, "abc"+strings.Repeat("1", 61), "/web")
	b := newContainer(t, s, "abd"+strings.Repeat("2", 61), "/db")
	// A name that looks like the other's id prefix: the exact name wins.
	c := newContainer(t, s, "fff"+strings.Repeat("3", 61), "/abd")
	for ref, want := range map[string]*Container{
		a.ID: a, "web": a, "/web": a, "abc": a, "abd": c, "abd2": b, "fff": c, "db": b,
	} {
		got, err := s.Get(ref)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %v, %v; want %s", ref, got, err, want.ID)
		}
	}
	if _, err := s.Get("ab"); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "Multiple IDs") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, err := s.Get("nosuch"); !errdefs.IsNotFound(err) || err.Error() != "no such id: nosuch" {
		t.Errorf("missing: %v", err)
	}
	if _, err := s.Get(""); err == nil {
		t.Error("empty ref found something")
	}
}

func TestStoreNameConflict(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newContainer(t, s, NewID(), "/web")
	err = s.ReserveName("/web", NewID())
	want := `Conflict. The name "web" is already in use by container ` + a.ID[:12] + `. You have to delete (or rename) that container to be able to reuse that name.`
	if !errdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("%v", err)
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveName("/web", NewID()); err != nil {
		t.Fatalf("name not freed by Delete: %v", err)
	}
	if _, err := os.Stat(s.Dir(a.ID)); !os.IsNotExist(err) {
		t.Fatalf("dir left: %v", err)
	}
	// Random names are unique even when many are drawn.
	seen := map[string]bool{}
	for range 200 {
		n := s.ReserveRandomName(NewID())
		if seen[n] || !nameRE.MatchString(n) {
			t.Fatalf("bad or repeated name %q", n)
		}
		seen[n] = true
	}
}

func TestStoreReload(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, s, NewID(), "/web")
	c.Lock()
	c.State.SetStopped(3, true, "boom", time.Now())
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	c.Unlock()
	// Leftovers of an interrupted write and junk are ignored.
	os.WriteFile(filepath.Join(s.Dir(c.ID), ".config.json.tmp123"), []byte("{"), 0o600)
	os.MkdirAll(filepath.Join(root, "not-a-container"), 0o700)
	bad := NewID()
	os.MkdirAll(filepath.Join(root, bad), 0o700)
	os.WriteFile(filepath.Join(root, bad, "config.json"), []byte("{"), 0o600)

	s2, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Len() != 1 {
		t.Fatalf("loaded %d containers", s2.Len())
	}
	got, err := s2.Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if got.State.ExitCode != 3 || !got.State.OOMKilled || got.State.Error != "boom" || got.Config.Cmd[1] != "hi" ||
		got.HostConfig.Binds[0] != "/a:/b" || got.HostConfig.LxcConf[0].Value != "x" {
		t.Fatalf("%+v %+v %+v", got.State, got.Config, got.HostConfig)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(c.ID), "config.json"))
	if strings.Contains(string(b), "HostConfig") || strings.Contains(string(b), "Binds") {
		t.Fatalf("HostConfig in config.json: %s", b)
	}
}

func TestLxcConfForms(t *testing.T) {
	t.Parallel()
	var h HostConfig
	for _, body := range []string{`{"LxcConf":{"lxc.b":"2","lxc.a":"1"}}`, `{"LxcConf":[{"Key":"lxc.a","Value":"1"},{"Key":"lxc.b","Value":"2"}]}`} {
		h = HostConfig{}
		if err := jsonUnmarshal(body, &h); err != nil || len(h.LxcConf) != 2 || h.LxcConf[0].Key != "lxc.a" {
			t.Errorf("%s: %+v %v", body, h.LxcConf, err)
		}
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	var s State
	if s.String() != "" || s.StateString() != "exited" {
		t.Errorf("never started: %q %q", s.String(), s.StateString())
	}
	s.SetRunning(42, time.Now().Add(-3*time.Second))
	if s.String() != "Up 3 seconds" || s.StateString() != "running" {
		t.Errorf("running: %q", s.String())
	}
	s.SetStopped(0, false, "", time.Now().Add(-5*time.Second))
	if s.String() != "Exited (0) 5 seconds ago" {
		t.Errorf("exited: %q", s.String())
	}
}
