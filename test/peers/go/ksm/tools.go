//go:build tools

// Package tools records the main package built by ../build.sh: the
// kube-state-metrics binary's main package is the module root.
package tools

import _ "k8s.io/kube-state-metrics/v2"
