package reference_test

import (
	"fmt"

	"github.com/pluggd/pluggd/core/image/reference"
)

func ExampleParse() {
	for _, name := range []string{"busybox", "library/busybox:1.2", "localhost:5000/me/app"} {
		r, err := reference.Parse(name)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(r.Name, r.Tag, r.String())
	}
	// Output:
	// docker.io/library/busybox latest busybox:latest
	// docker.io/library/busybox 1.2 busybox:1.2
	// localhost:5000/me/app latest localhost:5000/me/app:latest
}
