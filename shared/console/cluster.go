package console

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/roles"
)

// clusterData is what the cluster page draws.
type clusterData struct {
	Report *cluster.RoleReport
	Roles  []roles.Role
	// Plan is a re-shard waiting for confirmation.
	Plan *reshardPlan
}

// reshardPlan is a re-shard as the page shows it before it is applied.
type reshardPlan struct {
	Role     string
	Shards   string
	Change   *cluster.RoleChange
	Revision uint64
}

func (c *console) clusterPage(w http.ResponseWriter, r *http.Request, u *user) {
	c.drawCluster(w, r, u, http.StatusOK, nil)
}

func (c *console) drawCluster(w http.ResponseWriter, r *http.Request, u *user, status int, plan *reshardPlan, flashes ...flash) {
	if !u.p.Can(adminapi.PermClusterGet) {
		c.render(w, r, u, http.StatusForbidden, "cluster", "Cluster", "cluster", nil, flash{Kind: "error", Text: "not allowed: the cluster page needs " + adminapi.PermClusterGet})
		return
	}
	rep, err := cluster.Report(r.Context(), c.buckets)
	if err != nil {
		c.fail(w, r, u, http.StatusServiceUnavailable, fmt.Errorf("read the cluster's roles: %w", err))
		return
	}
	sort.Slice(rep.Nodes, func(i, j int) bool { return rep.Nodes[i].ID < rep.Nodes[j].ID })
	c.render(w, r, u, status, "cluster", "Cluster", "cluster", &clusterData{Report: rep, Roles: roles.All, Plan: plan}, flashes...)
}

// reshard shows the plan of a role's new shards (step plan) and, once
// confirmed at the revision shown (step apply), stores it.
func (c *console) reshard(w http.ResponseWriter, r *http.Request, u *user) {
	if !u.p.Can(adminapi.PermClusterUpdate) {
		redirectErr(w, r, "/ui/cluster", "not allowed: changing roles needs "+adminapi.PermClusterUpdate)
		return
	}
	role, err := roles.Parse(r.PostFormValue("role"))
	if err != nil {
		redirectErr(w, r, "/ui/cluster", err.Error())
		return
	}
	text := strings.TrimSpace(r.PostFormValue("shards"))
	shards, err := roles.ParseShards(strings.Fields(text))
	if err == nil && len(shards) == 0 {
		err = fmt.Errorf("give the shards: node ids, a comma between the nodes of a shard and a space between shards (1,2 3)")
	}
	if err != nil {
		c.drawCluster(w, r, u, http.StatusBadRequest, nil, flash{Kind: "error", Text: "shards: " + err.Error()})
		return
	}
	plan, err := cluster.PlanRoles(r.Context(), c.buckets, map[roles.Role]roles.Shards{role: shards})
	if err != nil {
		c.drawCluster(w, r, u, http.StatusBadRequest, nil, flash{Kind: "error", Text: err.Error()})
		return
	}
	if len(plan.Changes) == 0 {
		redirectOK(w, r, "/ui/cluster", fmt.Sprintf("nothing to change: %s already has these shards", role))
		return
	}
	ch := plan.Changes[0]
	shown := &reshardPlan{Role: string(role), Shards: text, Change: &ch, Revision: ch.FromRevision}
	if r.PostFormValue("step") != "apply" {
		c.drawCluster(w, r, u, http.StatusOK, shown)
		return
	}
	if rev := r.PostFormValue("revision"); rev != strconv.FormatUint(ch.FromRevision, 10) {
		c.drawCluster(w, r, u, http.StatusConflict, shown, flash{Kind: "warn", Text: "the role changed since this plan was shown: check the new plan and confirm again"})
		return
	}
	if len(ch.Problems) > 0 && r.PostFormValue("force") != "on" {
		c.drawCluster(w, r, u, http.StatusBadRequest, shown, flash{Kind: "error", Text: "not applied: the plan has problems; tick \"apply anyway\" only for nodes planned but not started yet"})
		return
	}
	if err := plan.Apply(r.Context(), c.buckets, "console user "+u.User); err != nil {
		c.drawCluster(w, r, u, http.StatusConflict, nil, flash{Kind: "error", Text: err.Error()})
		return
	}
	c.audit(r, u, "roles set", "role", role, "shards", text, "forced", len(ch.Problems) > 0)
	redirectOK(w, r, "/ui/cluster", fmt.Sprintf("%s now has %d shard(s): %s", role, len(shards), text))
}
