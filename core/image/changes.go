package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pluggd/pluggd/core/errdefs"
)

// applyChanges applies the `changes` of an import or commit (Dockerfile
// instructions, API 1.18) to cfg. Docker 1.7 accepted CMD, ENTRYPOINT,
// ENV, EXPOSE, ONBUILD, USER, VOLUME and WORKDIR there; LABEL came with
// Docker 1.8 and is accepted too. Anything else is refused with 400.
func applyChanges(cfg *Config, changes []string) error {
	for _, line := range changes {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		var err error
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd, err = commandForm(rest, true)
		case "ENTRYPOINT":
			cfg.Entrypoint, err = commandForm(rest, true)
		case "ENV":
			var kvs [][2]string
			if kvs, err = keyValues(rest, true); err == nil {
				for _, kv := range kvs {
					cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
				}
			}
		case "LABEL":
			var kvs [][2]string
			if kvs, err = keyValues(rest, false); err == nil {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				for _, kv := range kvs {
					cfg.Labels[kv[0]] = kv[1]
				}
			}
		case "EXPOSE":
			if rest == "" {
				err = errors.New("EXPOSE requires at least one argument")
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "USER":
			if rest == "" {
				err = errors.New("USER requires exactly one argument")
			}
			cfg.User = rest
		case "WORKDIR":
			if rest == "" {
				err = errors.New("WORKDIR requires exactly one argument")
			}
			cfg.WorkingDir = rest
		case "VOLUME":
			var vols StrSlice
			if vols, err = commandForm(rest, false); err == nil {
				if len(vols) == 0 {
					err = errors.New("VOLUME requires at least one argument")
				}
				for _, v := range vols {
					if cfg.Volumes == nil {
						cfg.Volumes = map[string]struct{}{}
					}
					cfg.Volumes[v] = struct{}{}
				}
			}
		default:
			return errdefs.InvalidParameter(fmt.Errorf("%s is not a valid change command", instr))
		}
		if err != nil {
			return errdefs.InvalidParameter(fmt.Errorf("change %q: %w", line, err))
		}
	}
	return nil
}

// commandForm parses the JSON (exec) form or the shell form; for CMD and
// ENTRYPOINT the shell form runs under /bin/sh -c, for VOLUME it is a list
// of words.
func commandForm(s string, shell bool) (StrSlice, error) {
	if strings.HasPrefix(s, "[") {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err == nil {
			return v, nil
		}
	}
	if !shell {
		return strings.Fields(s), nil
	}
	if s == "" {
		return nil, nil
	}
	return StrSlice{"/bin/sh", "-c", s}, nil
}

// keyValues parses "k v" (the old ENV form) or "k=v k2=\"v 2\"".
func keyValues(s string, oldForm bool) ([][2]string, error) {
	if s == "" {
		return nil, errors.New("requires at least one argument")
	}
	first, _, _ := strings.Cut(s, " ")
	if oldForm && !strings.Contains(first, "=") {
		k, v, _ := strings.Cut(s, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range splitWords(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("syntax error: %q is not key=value", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits on blanks, honouring double and single quotes and
// backslash escapes, and drops the quotes.
func splitWords(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote rune
		in    bool
		esc   bool
	)
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, in = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
