// Command etcd is etcd's server binary: the same two lines as the root main.go of
// go.etcd.io/etcd (which is not published as an importable module at v3.6), built from the
// pinned go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
