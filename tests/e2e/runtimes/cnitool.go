// SPDX-License-Identifier: Apache-2.0

// cnitool: a minimal libcni driver (Debian ships libcni, not the cnitool
// command), so the end-to-end test drives the plugin exactly as libcni-based
// runtimes (containerd, CRI-O, cnitool) do: config list loading, VERSION
// validation, the result cache and prevResult on CHECK and DEL.
//
//	cnitool add|check|del|validate CONFLIST NETNS CONTAINERID IFNAME [K=V;K=V]
//
// Env: CNI_PATH (plugin dirs, ':'-separated), CNI_CACHE_DIR (result cache).
// add prints the result as JSON; errors go to stderr with exit status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "cnitool: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 6 {
		die("usage: cnitool add|check|del|validate CONFLIST NETNS CONTAINERID IFNAME [K=V;K=V]")
	}
	verb, conflist, netns, cid, ifname := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		die("loading %s: %v", conflist, err)
	}
	rt := &libcni.RuntimeConf{ContainerID: cid, NetNS: netns, IfName: ifname}
	if len(os.Args) > 6 && os.Args[6] != "" {
		for _, kv := range strings.Split(os.Args[6], ";") {
			p := strings.SplitN(kv, "=", 2)
			if len(p) != 2 {
				die("bad CNI_ARGS entry %q", kv)
			}
			rt.Args = append(rt.Args, [2]string{p[0], p[1]})
		}
	}
	cache := os.Getenv("CNI_CACHE_DIR")
	if cache == "" {
		die("CNI_CACHE_DIR is not set")
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), cache, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	switch verb {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			die("add: %v", err)
		}
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			die("check: %v", err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			die("del: %v", err)
		}
	case "validate":
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			die("validate: %v", err)
		}
		fmt.Println(strings.Join(caps, ","))
	default:
		die("unknown verb %q", verb)
	}
}
