package dm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ControlPath is the device-mapper control node every ioctl goes through.
const ControlPath = "/dev/mapper/control"

// Sizes and offsets of struct dm_ioctl and struct dm_target_spec
// (linux/dm-ioctl.h). The layout is fixed by the kernel ABI; we encode it
// by hand instead of through a Go struct so no padding rule can shift it.
const (
	headerSize     = 312 // sizeof(struct dm_ioctl)
	targetSpecSize = 40  // sizeof(struct dm_target_spec)
	nameLen        = 128 // DM_NAME_LEN
	uuidLen        = 129 // DM_UUID_LEN
	typeNameLen    = 16  // DM_MAX_TYPE_NAME

	offVersion     = 0
	offDataSize    = 12
	offDataStart   = 16
	offTargetCount = 20
	offOpenCount   = 24
	offFlags       = 28
	offEventNr     = 32
	offDev         = 40
	offName        = 48
	offUUID        = offName + nameLen
)

// Commands (enum in linux/dm-ioctl.h).
const (
	cmdVersion     = 0
	cmdDevCreate   = 3
	cmdDevRemove   = 4
	cmdDevSuspend  = 6
	cmdDevStatus   = 7
	cmdTableLoad   = 9
	cmdTableStatus = 12
	cmdTargetMsg   = 14
)

// Flags of dm_ioctl.flags.
const (
	flagReadonly      = 1 << 0
	flagSuspend       = 1 << 1
	flagStatusTable   = 1 << 4
	flagActivePresent = 1 << 5
	flagBufferFull    = 1 << 8
	flagNoFlush       = 1 << 11
	flagDeferred      = 1 << 17
)

// ioctlVersion is the interface version we speak: the kernel accepts any
// request whose major matches its own (4 since 2.6) and answers with its
// full version.
var ioctlVersion = [3]uint32{4, 0, 0}

// request number: _IOWR(0xfd, cmd, struct dm_ioctl).
func request(cmd uintptr) uintptr {
	return 3<<30 | headerSize<<16 | 0xfd<<8 | cmd
}

// Control is an open /dev/mapper/control. It is safe for concurrent use:
// each call builds its own buffer.
type Control struct {
	f *os.File
}

// Open opens the control node. It fails where the kernel has no
// device-mapper (ENOENT, ENODEV, ENXIO) or the caller is not root (EACCES).
func Open() (*Control, error) { return OpenPath(ControlPath) }

// OpenPath opens a control node at another path (for tests of the
// failure paths).
func OpenPath(path string) (*Control, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &Control{f: f}, nil
}

// Close closes the control node.
func (c *Control) Close() error { return c.f.Close() }

// reply is a decoded dm_ioctl answer.
type reply struct {
	buf     []byte
	version [3]uint32
	flags   uint32
	count   uint32 // target_count
	open    int32
	eventNr uint32
	dev     uint64
}

func (r *reply) data() []byte {
	start := binary.LittleEndian.Uint32(r.buf[offDataStart:])
	size := binary.LittleEndian.Uint32(r.buf[offDataSize:])
	if int(start) > len(r.buf) || size > uint32(len(r.buf)) || start > size {
		return nil
	}
	return r.buf[start:size]
}

// Error is a failed device-mapper ioctl, with the command and device named.
type Error struct {
	Op   string
	Name string
	Err  error
}

func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("device-mapper %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("device-mapper %s %s: %v", e.Op, e.Name, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// call runs one ioctl. payload goes after the header; room is extra space
// for the kernel's answer. When the kernel says the buffer was too small
// (DM_BUFFER_FULL_FLAG) the call is repeated with a larger one, as
// libdevmapper does.
func (c *Control) call(op string, cmd uintptr, name string, flags uint32, targets uint32, payload []byte, room int) (*reply, error) {
	if len(name) >= nameLen {
		return nil, &Error{op, name, errors.New("name longer than 127 bytes")}
	}
	for {
		size := headerSize + len(payload) + room
		size = (size + 7) &^ 7
		buf := make([]byte, size)
		le := binary.LittleEndian
		for i, v := range ioctlVersion {
			le.PutUint32(buf[offVersion+4*i:], v)
		}
		le.PutUint32(buf[offDataSize:], uint32(size))
		le.PutUint32(buf[offDataStart:], headerSize)
		le.PutUint32(buf[offTargetCount:], targets)
		le.PutUint32(buf[offFlags:], flags)
		copy(buf[offName:offName+nameLen-1], name)
		copy(buf[headerSize:], payload)

		_, _, errno := unix.Syscall(unix.SYS_IOCTL, c.f.Fd(), request(cmd), uintptr(unsafe.Pointer(&buf[0])))
		if errno != 0 {
			return nil, &Error{op, name, errno}
		}
		r := &reply{
			buf:     buf,
			flags:   le.Uint32(buf[offFlags:]),
			count:   le.Uint32(buf[offTargetCount:]),
			open:    int32(le.Uint32(buf[offOpenCount:])),
			eventNr: le.Uint32(buf[offEventNr:]),
			dev:     le.Uint64(buf[offDev:]),
		}
		for i := range r.version {
			r.version[i] = le.Uint32(buf[offVersion+4*i:])
		}
		if r.flags&flagBufferFull != 0 && room < 1<<24 {
			room = room*4 + 16384
			continue
		}
		return r, nil
	}
}

// Version returns the kernel's device-mapper interface version, e.g.
// [4 47 0]. Docker 1.7 reported it as "Driver Version" and refused to run
// when it could not be read.
func (c *Control) Version() ([3]uint32, error) {
	r, err := c.call("version", cmdVersion, "", 0, 0, nil, 0)
	if err != nil {
		return [3]uint32{}, err
	}
	return r.version, nil
}

// Target is one line of a device's table.
type Target struct {
	Start  uint64 // in 512-byte sectors
	Length uint64 // in 512-byte sectors
	Type   string // "thin-pool", "thin", "linear", ...
	Params string
}

// encodeTargets lays out dm_target_spec records each followed by its
// NUL-terminated parameter string, 8-byte aligned ("next" is the offset
// from one spec to the next).
func encodeTargets(ts []Target) ([]byte, error) {
	var b bytes.Buffer
	for _, t := range ts {
		if len(t.Type) >= typeNameLen {
			return nil, fmt.Errorf("target type %q too long", t.Type)
		}
		n := targetSpecSize + len(t.Params) + 1
		n = (n + 7) &^ 7
		rec := make([]byte, n)
		binary.LittleEndian.PutUint64(rec[0:], t.Start)
		binary.LittleEndian.PutUint64(rec[8:], t.Length)
		binary.LittleEndian.PutUint32(rec[20:], uint32(n))
		copy(rec[24:24+typeNameLen-1], t.Type)
		copy(rec[targetSpecSize:], t.Params)
		b.Write(rec)
	}
	return b.Bytes(), nil
}

// decodeTargets reads count records from a DM_TABLE_STATUS answer. There
// "next" is an offset from the start of the data area, not from the
// record (dm-ioctl.c's retrieve_status).
func decodeTargets(data []byte, count uint32) ([]Target, error) {
	var ts []Target
	off := 0
	for i := uint32(0); i < count; i++ {
		if off+targetSpecSize > len(data) {
			return nil, errors.New("truncated target list")
		}
		rec := data[off:]
		t := Target{
			Start:  binary.LittleEndian.Uint64(rec[0:]),
			Length: binary.LittleEndian.Uint64(rec[8:]),
			Type:   cstring(rec[24 : 24+typeNameLen]),
			Params: cstring(rec[targetSpecSize:]),
		}
		ts = append(ts, t)
		next := int(binary.LittleEndian.Uint32(rec[20:]))
		if next <= off {
			break
		}
		off = next
	}
	return ts, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
