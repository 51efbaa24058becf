//go:build tools

// Package tools pins KEDA's operator (see ../../README.md).
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/operator"
)
