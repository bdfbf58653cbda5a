package jsonlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pluggd/pluggd/core/jsonlog"
)

func Example() {
	dir, _ := os.MkdirTemp("", "log")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "c-json.log")
	f, _ := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	w := jsonlog.NewWriter(f)
	w.WriteRecord("stdout", []byte("hello\n"), time.Date(2015, 6, 16, 9, 0, 0, 0, time.UTC))
	f.Close()

	b, _ := os.ReadFile(path)
	fmt.Print(string(b))
	// "docker logs --tail 1 --timestamps"
	jsonlog.Read(context.Background(), path, jsonlog.ReadOptions{Tail: 1}, func(r jsonlog.Record) error {
		fmt.Printf("%s %s", r.Time.Format("2006-01-02T15:04:05.000000000Z07:00"), r.Line)
		return nil
	})
	// Output:
	// {"log":"hello\n","stream":"stdout","time":"2015-06-16T09:00:00Z"}
	// 2015-06-16T09:00:00.000000000Z hello
}
