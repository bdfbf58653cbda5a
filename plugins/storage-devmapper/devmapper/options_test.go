package devmapper

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{BaseSize: 10 << 30, LoopDataSize: 100 << 30, LoopMetadataSize: 2 << 30,
		Filesystem: "ext4", BlockSize: 128, BlkDiscard: true}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults %+v, want %+v", o, want)
	}
}

func TestParseOptionsAll(t *testing.T) {
	o, err := ParseOptions([]string{
		"dm.basesize=20G", "DM.LoopDataSize=1024M", "dm.loopmetadatasize=512mb",
		"dm.fs=xfs", "dm.mkfsarg=-m crc=0", "dm.mkfsarg=-K", "dm.mountopt=nodiscard",
		"dm.thinpooldev=/dev/mapper/mypool", "dm.blocksize=512K",
		"dm.use_deferred_removal=true", "dm.override_udev_sync_check=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{BaseSize: 20 << 30, LoopDataSize: 1 << 30, LoopMetadataSize: 512 << 20,
		Filesystem: "xfs", MkfsArgs: []string{"-m crc=0", "-K"}, MountOptions: []string{"nodiscard"},
		ThinPoolDevice: "mypool", BlockSize: 1024, BlkDiscard: false, DeferredRemoval: true,
		OverrideUdevSyncCheck: true}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got  %+v\nwant %+v", o, want)
	}
}

func TestParseOptionsBlkDiscardExplicit(t *testing.T) {
	o, err := ParseOptions([]string{"dm.datadev=/dev/sdb", "dm.metadatadev=/dev/sdc", "dm.blkdiscard=true"})
	if err != nil || !o.BlkDiscard {
		t.Errorf("explicit dm.blkdiscard=true with datadev: %+v, %v", o, err)
	}
}

func TestParseOptionsErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ opt, key string }{
		{"dm.foo=1", "dm.foo"},
		{"dm.basesize=ten", "dm.basesize"},
		{"dm.basesize=1.5G", "dm.basesize"},
		{"dm.loopdatasize=99999999999P", "dm.loopdatasize"},
		{"dm.fs=btrfs", "dm.fs"},
		{"dm.blocksize=4K", "dm.blocksize"},
		{"dm.blocksize=100K", "dm.blocksize"},
		{"dm.use_deferred_removal=maybe", "dm.use_deferred_removal"},
		{"dm.basesize", "dm.basesize"},
		{"dm.datadev=/dev/sdb", "dm.datadev"},
	} {
		_, err := ParseOptions([]string{tc.opt})
		if err == nil {
			t.Errorf("%q accepted", tc.opt)
			continue
		}
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: %v (class %v), want InvalidParameter naming %s", tc.opt, err, errdefs.ClassOf(err), tc.key)
		}
	}
}

func TestRAMInBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "32": 32, "32b": 32, "1k": 1024, "1KB": 1024, "10G": 10 << 30, "2t": 2 << 40, "1P": 1 << 50} {
		if got, err := ramInBytes(in); err != nil || got != want {
			t.Errorf("ramInBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5G", "1GiB", "G", "1 G B"} {
		if _, err := ramInBytes(bad); err == nil {
			t.Errorf("ramInBytes(%q) accepted", bad)
		}
	}
}
