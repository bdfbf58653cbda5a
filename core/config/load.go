package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// FileError is a problem in the configuration file, located by key and line
// (Line is 0 when the line could not be found).
type FileError struct {
	File string
	Key  string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// LoadFile returns the defaults overlaid with the TOML file at path. When
// required is false a missing file yields the defaults (the default path
// need not exist); when true it is an error (the operator named the file).
func LoadFile(path string, required bool) (*Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		if !required && errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := decode(path, data, c); err != nil {
		return nil, err
	}
	return c, nil
}

var mismatchRE = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*?)"\): (.*)$`)

// decode overlays the TOML document data (read from file) onto c and checks
// the result.
func decode(file string, data []byte, c *Config) error {
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return &FileError{File: file, Key: pe.LastKey, Line: pe.Position.Line, Err: errors.New(pe.Message)}
		}
		// Type mismatches are plain errors of the form
		// `toml: line N (last key "K"): msg`; take them apart so every
		// file error reads the same.
		if m := mismatchRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &FileError{File: file, Key: m[2], Line: line, Err: errors.New(m[3])}
		}
		return &FileError{File: file, Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return &FileError{File: file, Key: k.String(), Line: keyLine(data, k), Err: errors.New("unknown key")}
	}
	// A table of options loses its order in the map BurntSushi hands to
	// UnmarshalTOML; the metadata keeps file order, and driver options are
	// ordered (storage.InitOptions.Options).
	for _, d := range []struct {
		section string
		drv     *Driver
	}{{"storage", &c.Storage}, {"exec", &c.Exec}} {
		if md.Type(d.section, "options") == "Hash" {
			d.drv.Options = orderTable(md, d.section, d.drv.Options)
		}
	}
	if key, err := c.check(); err != nil {
		return &FileError{File: file, Key: key, Line: keyLine(data, toml.Key(strings.Split(key, "."))), Err: err}
	}
	return nil
}

// orderTable reorders opts ("k=v" from a table) in the order the keys appear
// in the file.
func orderTable(md toml.MetaData, section string, opts Options) Options {
	byKey := make(map[string]string, len(opts))
	for _, o := range opts {
		k, _, _ := strings.Cut(o, "=")
		byKey[k] = o
	}
	var out Options
	for _, k := range md.Keys() {
		if len(k) == 3 && k[0] == section && k[1] == "options" {
			if o, ok := byKey[k[2]]; ok {
				out = append(out, o)
				delete(byKey, k[2])
			}
		}
	}
	return out
}

// keyLine finds the line defining key in a TOML document, for error
// messages: BurntSushi does not expose the positions of keys it did not
// decode. It understands [table] headers and dotted keys, which is what a
// hand-written configuration uses; when key itself is not found (it sits in
// an inline table), the line of its nearest parent is returned; 0 if none.
func keyLine(data []byte, key toml.Key) int {
	for k := key; len(k) > 0; k = k[:len(k)-1] {
		if n := findKey(data, k.String()); n > 0 {
			return n
		}
	}
	return 0
}

func findKey(data []byte, want string) int {
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			h := strings.Trim(line, "[] \t")
			if i := strings.Index(h, "#"); i >= 0 {
				h = strings.TrimRight(strings.TrimSpace(h[:i]), "]")
			}
			table = normKey(h)
			if table == want {
				return n
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		full := normKey(k)
		if table != "" {
			full = table + "." + full
		}
		if full == want {
			return n
		}
	}
	return 0
}

// normKey turns a written key (` a . "b" `) into toml.Key's dotted form.
func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return toml.Key(parts).String()
}
