// Package cluster keeps the cluster's shared state in JetStream KV: which
// nodes are alive, which nodes hold which roles, and which node leads.
//
// # Buckets
//
//   - jetmail-nodes: one key per live node, its Member record. The bucket's
//     TTL is cluster.node-timeout; a node renews its key every
//     cluster.heartbeat-interval. A node that stops renewing drops out when
//     the key ages out; a node that shuts down cleanly deletes its key.
//   - jetmail-roles: one key per role, its RoleMap (the shard list). Seeded
//     from the configuration (cluster.roles.*) by the first node that works
//     the role (KV Create, so the first writer wins and later
//     configurations do not overwrite a change made at run time); changed
//     by `jetmail roles set` and `jetmail roles apply` (PlanRoles, then
//     Plan.Apply).
//   - jetmail-shards: the partition layout each role's consumers were built
//     for (layout.<role>) and each node's drain acknowledgements
//     (drained.<role>.<node>); see package work.
//   - jetmail-leases: leases with the same TTL as nodes; "leader" is held by
//     the node that builds the roles' consumers (re-sharding), competed for
//     by the nodes that use role work; "duty.<name>" by the node that runs
//     that single-holder duty (the queue rescuer, the task rescuer, ...),
//     competed for by the nodes that registered it (DutyKey).
//
// # Node states
//
//	starting --Create(jetmail-nodes/<id>)--> live --heartbeat--> live
//	live --Delete on shutdown--> gone
//	live --no heartbeat for node-timeout--> gone (key ages out)
//
// A node whose id is already live waits up to node-timeout for the old key to
// age out (the case of a quick restart after a crash) and refuses to start if
// another process keeps renewing it.
//
// # Role maps and the configuration
//
// Once a role has a map, the map is the truth and cluster.roles.* in a
// node's configuration changes nothing:
//
//	no map --a node starts its first worker of the role: SeedRole(config)--> map
//	map --roles set / roles apply--> map (next revision)
//	map --a node starts with a config that disagrees--> map, unchanged; the
//	      node says so (Drift): a WARN at start, /ready, `roles show`
//
// A node seeds only the roles it works (node.RunWorker), never those of a
// service it does not run: a delivery-only node that starts first leaves
// fts-indexing unseeded, and the first indexer node seeds it from its own
// configuration. A crash between seeding and starting the worker leaves a
// map with nobody working it yet, as `roles set --force` can; the node
// that restarts finds it and works it.
//
// # Leader lease
//
//	follower --Create(leader) ok--> leader --Update(rev) every heartbeat--> leader
//	leader --Update fails (expired or taken)--> follower
//
// Leader duties must be idempotent: a new leader redoes whatever the old one
// left half done.
package cluster
