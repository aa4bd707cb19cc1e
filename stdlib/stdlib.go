// Package stdlib is clstr's standard library of Starlark helper modules.
// Scripts load them by name:
//
//	load("@stdlib//cluster.star", "wait_for_leader", "followers")
//	load("@stdlib//kv.star", "kv_put", "kv_expect", "unique_key")
//
// The modules are data: .star files embedded in FS, also readable in this
// directory. Every public function has a docstring, and docs/scripting.md
// lists them.
//
//   - cluster.star: the roles of a cluster's nodes, from GET /cluster/info
//     (CONTRACT.md): cluster_info, nodes_by_role, find_leader,
//     wait_for_leader, followers, find_follower, node_by_addr, known_leader.
//   - kv.star: the key-value API of the kv-store challenge (PUT, GET and
//     DELETE /kv/{key}, DELETE /clear) as checks with hints: kv_put, kv_get,
//     kv_expect, kv_expect_missing, kv_delete, kv_clear, unique_key.
package stdlib

import "embed"

// FS holds the modules, named "cluster.star", "kv.star", ….
//
//go:embed *.star
var FS embed.FS
