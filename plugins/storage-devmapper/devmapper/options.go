package devmapper

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Options are the operator's dm.* storage options, with Docker 1.7's
// defaults (daemon/graphdriver/devmapper/deviceset.go, NewDeviceSet).
type Options struct {
	BaseSize         int64  // dm.basesize: size of every layer's filesystem
	LoopDataSize     int64  // dm.loopdatasize: sparse data file
	LoopMetadataSize int64  // dm.loopmetadatasize: sparse metadata file
	Filesystem       string // dm.fs: "ext4" or "xfs"
	MkfsArgs         []string
	MountOptions     []string // dm.mountopt, joined with "," at mount
	DataDevice       string   // dm.datadev
	MetadataDevice   string   // dm.metadatadev
	ThinPoolDevice   string   // dm.thinpooldev, without "/dev/mapper/"
	BlockSize        uint32   // dm.blocksize, in 512-byte sectors
	BlkDiscard       bool     // dm.blkdiscard
	DeferredRemoval  bool     // dm.use_deferred_removal
	// OverrideUdevSyncCheck is accepted and ignored, as in Docker 1.7.1
	// (1.7.0 refused to start without udev sync unless it was set; a pure
	// Go driver makes its own nodes and has no udev to wait for).
	OverrideUdevSyncCheck bool
}

// Docker 1.7's defaults.
const (
	DefaultBaseSize         = 10 << 30
	DefaultLoopDataSize     = 100 << 30
	DefaultLoopMetadataSize = 2 << 30
	DefaultBlockSize        = 128 // sectors: 64 KiB
)

// ParseOptions reads "key=value" strings. Keys are case-insensitive, as
// in Docker. An unknown key or a bad value is an InvalidParameter error
// naming the key.
func ParseOptions(opts []string) (Options, error) {
	o := Options{
		BaseSize:         DefaultBaseSize,
		LoopDataSize:     DefaultLoopDataSize,
		LoopMetadataSize: DefaultLoopMetadataSize,
		Filesystem:       "ext4",
		BlockSize:        DefaultBlockSize,
		BlkDiscard:       true,
	}
	blkDiscardSet := false
	for _, kv := range opts {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok {
			return Options{}, invalid(key, "%q is not key=value", kv)
		}
		var err error
		switch key {
		case "dm.basesize":
			o.BaseSize, err = ramInBytes(val)
		case "dm.loopdatasize":
			o.LoopDataSize, err = ramInBytes(val)
		case "dm.loopmetadatasize":
			o.LoopMetadataSize, err = ramInBytes(val)
		case "dm.fs":
			if val != "ext4" && val != "xfs" {
				return Options{}, invalid(key, "unsupported filesystem %q (ext4 or xfs)", val)
			}
			o.Filesystem = val
		case "dm.mkfsarg":
			o.MkfsArgs = append(o.MkfsArgs, val)
		case "dm.mountopt":
			o.MountOptions = append(o.MountOptions, val)
		case "dm.datadev":
			o.DataDevice = val
		case "dm.metadatadev":
			o.MetadataDevice = val
		case "dm.thinpooldev":
			o.ThinPoolDevice = strings.TrimPrefix(val, "/dev/mapper/")
		case "dm.blocksize":
			var n int64
			n, err = ramInBytes(val)
			// dm-thin takes 64 KiB to 1 GiB in multiples of 64 KiB
			// (thin-provisioning.rst); Docker 1.7 passed anything
			// through and let the pool table fail later.
			if err == nil && (n < 64<<10 || n > 1<<30 || n%(64<<10) != 0) {
				err = fmt.Errorf("%q: must be a multiple of 64 KiB between 64 KiB and 1 GiB", val)
			}
			o.BlockSize = uint32(n >> 9)
		case "dm.blkdiscard":
			o.BlkDiscard, err = strconv.ParseBool(val)
			blkDiscardSet = true
		case "dm.use_deferred_removal":
			o.DeferredRemoval, err = strconv.ParseBool(val)
		case "dm.override_udev_sync_check":
			o.OverrideUdevSyncCheck, err = strconv.ParseBool(val)
		default:
			return Options{}, invalid(key, "unknown option")
		}
		if err != nil {
			return Options{}, invalid(key, "%v", err)
		}
	}
	if (o.DataDevice == "") != (o.MetadataDevice == "") {
		return Options{}, invalid("dm.datadev", "dm.datadev and dm.metadatadev go together")
	}
	// Docker: discarding before delete is pointless, and slow, on a
	// device we did not make; off unless asked for.
	if !blkDiscardSet && (o.DataDevice != "" || o.ThinPoolDevice != "") {
		o.BlkDiscard = false
	}
	return o, nil
}

func invalid(key, format string, args ...any) error {
	return errdefs.InvalidParameter(fmt.Errorf("devicemapper: option %s: %s", key, fmt.Sprintf(format, args...)))
}

// sizeRE is Docker 1.7's units.RAMInBytes grammar: an integer, an optional
// unit letter, an optional "b".
var sizeRE = regexp.MustCompile(`^(\d+)([kKmMgGtTpP])?[bB]?$`)

// ramInBytes parses a size with binary multipliers ("10G" is 10 GiB),
// as Docker 1.7's units.RAMInBytes did for every dm size option.
func ramInBytes(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[strings.ToLower(m[2])]
	if n > (1<<63-1)>>shift {
		return 0, fmt.Errorf("size %q overflows", s)
	}
	return n << shift, nil
}
