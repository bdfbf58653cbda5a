package plugin

// The generated code is committed: CI does not run protoc. `make proto`
// runs this with protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
//go:generate protoc --proto_path=proto --go_out=proto --go_opt=paths=source_relative --go-grpc_out=proto --go-grpc_opt=paths=source_relative exec.proto
