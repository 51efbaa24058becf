//go:build tools

// Package tools pins skaffold's CLI (see ../README.md and ../test_skaffold.py).
package tools

import (
	_ "github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold"
)
