package dm

import (
	"errors"
	"reflect"
	"testing"
)

// The request numbers are part of the kernel ABI; these are the values
// dmsetup uses (strace shows DM_VERSION as 0xc138fd00).
func TestRequestNumbers(t *testing.T) {
	for cmd, want := range map[uintptr]uintptr{
		cmdVersion:   0xc138fd00,
		cmdDevCreate: 0xc138fd03,
		cmdTargetMsg: 0xc138fd0e,
	} {
		if got := request(cmd); got != want {
			t.Errorf("request(%d) = %#x, want %#x", cmd, got, want)
		}
	}
}

func TestTargetsRoundTrip(t *testing.T) {
	in := []Target{
		{0, 2097152, "thin-pool", "/dev/loop1 /dev/loop0 128 32768 1 skip_block_zeroing"},
		{2097152, 8, "linear", "/dev/loop2 0"},
	}
	b, err := encodeTargets(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%8 != 0 {
		t.Errorf("encoded length %d not 8-byte aligned", len(b))
	}
	// Load uses offsets relative to each record; status answers use
	// offsets from the start of the data. Rewrite to the latter, as the
	// kernel would, before decoding.
	first := int(le32(b[20:]))
	put32(b[first+20:], uint32(len(b)))
	out, err := decodeTargets(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestTargetTypeTooLong(t *testing.T) {
	if _, err := encodeTargets([]Target{{Type: "a-very-long-target"}}); err == nil {
		t.Error("17-byte target type accepted")
	}
}

func TestParsePoolStatus(t *testing.T) {
	// A 6.1 kernel's line for a fresh pool after one transaction.
	s, err := ParsePoolStatus("1 11/16384 20/16384 - rw discard_passdown queue_if_no_space - 1024")
	if err != nil {
		t.Fatal(err)
	}
	want := PoolStatus{TransactionID: 1, UsedMetadataBlocks: 11, TotalMetadataBlocks: 16384, UsedDataBlocks: 20, TotalDataBlocks: 16384, Mode: "rw"}
	if s != want || s.OutOfDataSpace() {
		t.Errorf("got %+v, want %+v", s, want)
	}
	// A full pool created with error_if_no_space.
	s, err = ParsePoolStatus("7 30/8192 1024/1024 - out_of_data_space discard_passdown error_if_no_space - 1024")
	if err != nil || !s.OutOfDataSpace() || !s.ErrorIfNoSpace || s.Mode != "out_of_data_space" {
		t.Errorf("full pool: %+v, %v", s, err)
	}
	if s, err := ParsePoolStatus("Fail"); !errors.Is(err, ErrPoolFailed) || s.Mode != "Fail" {
		t.Errorf("failed pool: %+v, %v", s, err)
	}
	for _, bad := range []string{"", "x 1/2 3/4", "1 12 3/4", "1 1/2 3/x"} {
		if _, err := ParsePoolStatus(bad); err == nil {
			t.Errorf("ParsePoolStatus(%q) accepted", bad)
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
