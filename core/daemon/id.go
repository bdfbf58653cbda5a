package daemon

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IDFileName holds the daemon's ID under the root.
const IDFileName = "engine-id"

// loadOrCreateID returns the daemon's stable ID, creating it on first use.
// Docker 1.7 had none; Docker 1.4–1.6 (API v1.16–1.18) sent the libtrust key
// fingerprint, twelve groups of four base32 characters
// ("7TRN:IPZB:…", remote_api_v1.19.md GET /info), which clients display and
// swarm uses to tell engines apart. pluggd keeps no key, so the ID is 240
// random bits in the same format, stored once.
func loadOrCreateID(root string) (string, error) {
	path := filepath.Join(root, IDFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("daemon ID: %w", err)
	}
	raw := make([]byte, 30)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	enc := base32.StdEncoding.EncodeToString(raw) // 48 characters, no padding
	groups := make([]string, 0, 12)
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:i+4])
	}
	id := strings.Join(groups, ":")
	// Written under the root lock; rename makes it all-or-nothing.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("daemon ID: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("daemon ID: %w", err)
	}
	return id, nil
}
