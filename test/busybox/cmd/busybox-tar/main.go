// Command busybox-tar writes the pluggd test image (a busybox rootfs tar) to
// stdout, for manual use with `docker import - busybox` and for benchmarks.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/pluggd/pluggd/test/busybox"
)

func main() {
	padding := flag.Int64("padding", 0, "add a /padding file of this many bytes")
	bin := flag.String("busybox", busybox.DefaultBinary, "static busybox binary")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := busybox.Write(w, busybox.Options{Binary: *bin, Padding: *padding}); err != nil {
		fmt.Fprintln(os.Stderr, "busybox-tar:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "busybox-tar:", err)
		os.Exit(1)
	}
}
