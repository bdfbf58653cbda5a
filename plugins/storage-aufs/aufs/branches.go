package aufs

import (
	"fmt"
	"strings"
)

// xinoOpts are the options of every mount: direct I/O, and the external
// inode number table in /dev/shm, as Docker 1.7 mounted.
const xinoOpts = "dio,xino=/dev/shm/aufs.xino"

// reservedBytes is what Docker 1.7 kept free in the page for the options
// after the branch list ("dio,xino=..." and the label's wrapping); with
// dirperm1 it kept len("dirperm1") more.
const reservedBytes = 54

// withLabel adds the SELinux context option, as Docker's
// label.FormatMountLabel did.
func withLabel(data, label string) string {
	if label == "" {
		return data
	}
	return fmt.Sprintf("%s,context=%q", data, label)
}

// branchOptions builds the data of the first aufs mount of rw over ro
// (nearest parent first) and the data of the MS_REMOUNT calls appending
// the branches that did not fit: the kernel copies at most one page of
// mount data, so the branch list is capped at pageSize - len(label) - 54
// (- 8 with dirperm1), as Docker 1.7 did.
//
// Docker 1.7 skipped the first branch that did not fit (an i++ after the
// first mount); the append list here starts with it.
func branchOptions(rw string, ro []string, label string, dirperm1 bool, pageSize int) (first string, appends []string) {
	limit := pageSize - len(label) - reservedBytes
	if dirperm1 {
		limit -= len("dirperm1")
	}
	var b strings.Builder
	b.WriteString("br:" + rw + "=rw")
	i := 0
	for ; i < len(ro); i++ {
		br := ":" + ro[i] + "=ro+wh"
		if b.Len()+len(br) > limit {
			break
		}
		b.WriteString(br)
	}
	opts := xinoOpts
	if dirperm1 {
		opts += ",dirperm1"
	}
	first = withLabel(b.String()+","+opts, label)
	for ; i < len(ro); i++ {
		appends = append(appends, withLabel("append:"+ro[i]+"=ro+wh", label))
	}
	return first, appends
}
