//go:build tools

// Package tools records the main package built by ../build.sh: the etcd
// binary's main package is the root of the go.etcd.io/etcd/server/v3 module.
package tools

import _ "go.etcd.io/etcd/server/v3"
