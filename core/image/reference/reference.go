package reference

import (
	"errors"
	"fmt"
	"regexp"

	dref "github.com/distribution/reference"

	"github.com/pluggd/pluggd/core/errdefs"
)

// DefaultTag is the tag a name without one refers to.
const DefaultTag = "latest"

// Ref is a parsed repository name with its tag. Name is the normalised
// repository name (the storage key, "docker.io/library/busybox"); Tag is never
// empty once parsed.
type Ref struct {
	Name string
	Tag  string
}

// Familiar returns the repository as users write it ("busybox").
func (r Ref) Familiar() string { return FamiliarName(r.Name) }

// String returns the familiar "repo:tag" form ("busybox:latest"), the form
// Docker shows in RepoTags, rmi's Untagged rows and history's Tags.
func (r Ref) String() string { return r.Familiar() + ":" + r.Tag }

// FamiliarName turns a normalised repository name into its familiar form.
// A name that does not parse is returned unchanged.
func FamiliarName(name string) string {
	n, err := dref.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return dref.FamiliarName(n)
}

// tagRE is Docker's tag rule (Docker 1.7 tags.ValidateTagName).
var tagRE = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

// ValidateTag checks a tag on its own.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return errdefs.InvalidParameter(fmt.Errorf("Illegal tag name (%s): only [A-Za-z0-9_.-] are allowed ('.' and '-' are NOT allowed in the initial), minimum 1, maximum 128 in length", tag))
	}
	return nil
}

// ErrDigest is returned (classified InvalidParameter) for names carrying a
// digest: pluggd keeps no content digests yet.
var ErrDigest = errors.New("digest references are not supported")

// Parse parses "name[:tag]". An empty tag becomes DefaultTag. Digests
// ("name@sha256:…") and malformed names are InvalidParameter errors.
func Parse(s string) (Ref, error) {
	return ParseWithTag(s, "")
}

// ParseWithTag parses a repository name that may carry its own tag, with an
// explicit tag given separately (the `repo` and `tag` query parameters). As
// in Docker (VERSIONS.md v1.14), when tag is set the name is not split: the
// explicit tag wins over one embedded in the name.
func ParseWithTag(name, tag string) (Ref, error) {
	if name == "" {
		return Ref{}, errdefs.InvalidParameter(errors.New("Repository name can't be empty"))
	}
	named, err := dref.ParseNormalizedNamed(name)
	if err != nil {
		return Ref{}, errdefs.InvalidParameter(fmt.Errorf("invalid reference format %q: %w", name, err))
	}
	if _, ok := named.(dref.Digested); ok {
		return Ref{}, errdefs.InvalidParameter(fmt.Errorf("%s: %w", name, ErrDigest))
	}
	r := Ref{Name: named.Name()}
	if tagged, ok := named.(dref.Tagged); ok {
		r.Tag = tagged.Tag()
	}
	if tag != "" {
		if err := ValidateTag(tag); err != nil {
			return Ref{}, err
		}
		r.Tag = tag
	}
	if r.Tag == "" {
		r.Tag = DefaultTag
	}
	return r, nil
}
