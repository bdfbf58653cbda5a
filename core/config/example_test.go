package config_test

import (
	"fmt"
	"io"

	"github.com/pluggd/pluggd/core/config"
)

// Flags override the file (here the default file, absent or not) the way
// Docker 1.7's daemon flags did.
func ExampleLoad() {
	cfg, _, err := config.Load([]string{"--config", "../../config.toml.example", "-s", "devicemapper", "-H", "tcp://:2375", "--plugin-dir", "/usr/lib/pluggd"}, io.Discard)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Root, cfg.Hosts, cfg.PluginBinary(config.KindStorage))
	// Output: /var/lib/pluggd [tcp://0.0.0.0:2375] /usr/lib/pluggd/storage-devmapper
}
