package devmapper

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The files must read like Docker 1.7's, byte for byte in key names.
func TestMetadataDockerFormat(t *testing.T) {
	m := metaStore{dir: t.TempDir()}
	if err := m.saveDevice(deviceInfo{Hash: "", DeviceID: 1, Size: 10 << 30, TransactionID: 1, Initialized: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.saveDeviceSet(deviceSetMetadata{NextDeviceID: 3}); err != nil {
		t.Fatal(err)
	}
	if err := m.saveTransaction(transaction{OpenTransactionID: 4, DeviceHash: "abc", DeviceID: 3}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"base":                 `{"device_id":1,"size":10737418240,"transaction_id":1,"initialized":true}`,
		"deviceset-metadata":   `{"next_device_id":3}`,
		"transaction-metadata": `{"open_transaction_id":4,"device_hash":"abc","device_id":3}`,
	} {
		b, err := os.ReadFile(filepath.Join(m.dir, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %s, %v; want %s", file, b, err, want)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	m := metaStore{dir: t.TempDir()}
	devs := []deviceInfo{
		{Hash: "", DeviceID: 1, Size: 1 << 30, Initialized: true},
		{Hash: "4a5b", DeviceID: 2, Size: 1 << 30, TransactionID: 2},
	}
	for _, d := range devs {
		if err := m.saveDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	// Leftover of an interrupted write: ignored.
	if err := os.WriteFile(filepath.Join(m.dir, ".4a5b.tmp123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := m.loadDevices()
	if err != nil {
		t.Fatal(err)
	}
	// ReadDir sorts by name: "4a5b" before "base".
	if want := []deviceInfo{devs[1], devs[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("loadDevices = %+v, want %+v", got, want)
	}
	if err := m.removeDevice("4a5b"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.loadDevice("4a5b"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after remove: %v", err)
	}
	if err := m.removeDevice("4a5b"); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if s, err := m.loadDeviceSet(); err != nil || s.NextDeviceID != 0 {
		t.Errorf("missing deviceset-metadata: %+v, %v; want zero", s, err)
	}
}

func TestMetadataRefusesHostileIDs(t *testing.T) {
	m := metaStore{dir: t.TempDir()}
	for _, id := range []string{"../x", "a/b", ".", "..", ".hidden", "base", "deviceset-metadata", "transaction-metadata"} {
		if err := m.saveDevice(deviceInfo{Hash: id}); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
}

func TestMetadataCorruptFileNamed(t *testing.T) {
	m := metaStore{dir: t.TempDir()}
	p := filepath.Join(m.dir, "deviceset-metadata")
	if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.loadDeviceSet(); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestIDAllocatorSkipsUsedAndWraps(t *testing.T) {
	a := newIDAllocator(maxDeviceID-1, []deviceInfo{{DeviceID: maxDeviceID}, {DeviceID: 0}, {DeviceID: 2}})
	var got []int
	for range 3 {
		id, err := a.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if want := []int{1, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("allocated %v, want %v", got, want)
	}
	a.release(3)
	a.next = 0
	if id, _ := a.allocate(); id != 3 {
		t.Errorf("released id not reused: got %d", id)
	}
}
