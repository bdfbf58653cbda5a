package container

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strconv"
)

// idRE is a full container id.
var idRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// NewID returns a random 64-hex id, as Docker 1.7's
// stringid.GenerateRandomID did (DOCKER17.md §5): one whose first 12
// characters are all digits is drawn again, since the short id becomes the
// default hostname and an all-numeric hostname is invalid.
func NewID() string {
	b := make([]byte, 32)
	for {
		if _, err := rand.Read(b); err != nil {
			// crypto/rand never fails on Linux (getrandom); a failure
			// here means the process cannot work anyway.
			panic(err)
		}
		id := hex.EncodeToString(b)
		if _, err := strconv.ParseInt(id[:12], 10, 64); err == nil {
			continue
		}
		return id
	}
}

// ShortID is Docker's TruncateID: the first 12 characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// IsFullID reports whether s has the form of a full container id.
func IsFullID(s string) bool { return idRE.MatchString(s) }
