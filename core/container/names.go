package container

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/pluggd/pluggd/core/errdefs"
)

// nameRE is Docker 1.7's validContainerNamePattern (DOCKER17.md §8): at
// least two characters, the first alphanumeric, an optional leading "/".
var nameRE = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a user-chosen name and returns it with Docker's
// leading "/". A bad name is an InvalidParameter error with Docker's text.
func ValidateName(name string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", errdefs.InvalidParameter(fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return name, nil
}

// errNameInUse is Docker 1.7's conflict message (daemon.reserveName); the
// word "Conflict" is what made it a 409 there.
func errNameInUse(name, holder string) error {
	return errdefs.Conflict(fmt.Errorf("Conflict. The name %q is already in use by container %s. You have to delete (or rename) that container to be able to reuse that name.",
		strings.TrimPrefix(name, "/"), ShortID(holder)))
}

// Random names: "<adjective>_<surname>", our own lists (Docker's were 57
// adjectives and 80 scientists and hackers).
var (
	adjectives = [...]string{
		"agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic",
		"curious", "daring", "eager", "fancy", "fervent", "gentle", "gleaming", "happy",
		"hardy", "humble", "jolly", "keen", "kind", "lively", "lucid", "merry",
		"modest", "nimble", "noble", "patient", "plucky", "proud", "quiet", "rapid",
		"serene", "sharp", "steady", "sunny", "swift", "tender", "vivid", "witty",
	}
	surnames = [...]string{
		"agnesi", "babbage", "bardeen", "bohr", "boole", "cerf", "curie", "darwin",
		"dijkstra", "einstein", "euler", "faraday", "fermat", "feynman", "gauss", "goodall",
		"hamilton", "hopper", "hypatia", "kepler", "knuth", "lamarr", "liskov", "lovelace",
		"maxwell", "meitner", "mirzakhani", "newton", "noether", "pascal", "perlman", "planck",
		"ramanujan", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak", "yonath",
	}
)

// randomName returns a random name; attempt > 0 appends a digit, as
// Docker's namesgenerator.GetRandomName(retry) did.
func randomName(attempt int) string {
	n := adjectives[rand.IntN(len(adjectives))] + "_" + surnames[rand.IntN(len(surnames))]
	if attempt > 0 {
		n += fmt.Sprint(rand.IntN(10))
	}
	return n
}
