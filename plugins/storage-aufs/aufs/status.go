package aufs

import (
	"strconv"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// statusPairs are Docker 1.7's aufs DriverStatus rows, in its order.
func statusPairs(home, backingFS string, dirs int, dirperm1 bool) []storage.StatusPair {
	return []storage.StatusPair{
		{Key: "Root Dir", Value: home},
		{Key: "Backing Filesystem", Value: backingFS},
		{Key: "Dirs", Value: strconv.Itoa(dirs)},
		{Key: "Dirperm1 Supported", Value: strconv.FormatBool(dirperm1)},
	}
}
