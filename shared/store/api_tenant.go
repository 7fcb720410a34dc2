package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

func tenantOut(t *Tenant) adminapi.Tenant {
	return adminapi.Tenant{ID: t.ID, Name: t.Name, Quota: t.Quota, Used: t.Used, Created: t.Created}
}

func (a *api) tenantGet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	res := jmap.NewGetResponse[adminapi.Tenant]()
	if args.IDs == nil {
		all, err := a.s.Tenants(ctx)
		if err != nil {
			return nil, err
		}
		if len(all) > jmap.MaxObjectsInGet {
			return nil, jmap.Errorf("requestTooLarge", "%d tenants; ask for ids (x:Tenant/query pages through them), at most %d", len(all), jmap.MaxObjectsInGet)
		}
		for i := range all {
			res.List = append(res.List, tenantOut(&all[i]))
		}
		return res, nil
	}
	for _, id := range *args.IDs {
		t, err := a.s.Tenant(ctx, id)
		if errors.Is(err, ErrNotFound) {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		res.List = append(res.List, tenantOut(t))
	}
	return res, nil
}

// byName checks that a query sorts by name only, and says whether it
// sorts descending.
func byName(sort []jmap.Comparator, what string) (bool, error) {
	desc := false
	for _, c := range sort {
		if c.Property != "name" {
			return false, jmap.Errorf("unsupportedSort", "%s sort by name only, not %q", what, c.Property)
		}
		desc = c.Descending()
	}
	return desc, nil
}

func reverse(ids []string) {
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
}

func (a *api) tenantQuery(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.TenantFilter](raw)
	if err != nil {
		return nil, err
	}
	desc, err := byName(args.Sort, "tenants")
	if err != nil {
		return nil, err
	}
	all, err := a.s.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range all {
		if f := args.Filter; f != nil && !strings.Contains(strings.ToLower(t.Name), strings.ToLower(f.Name)) {
			continue
		}
		ids = append(ids, t.ID)
	}
	if desc {
		reverse(ids)
	}
	return page(ids, args.Position, args.LimitOr(jmap.MaxObjectsInGet)), nil
}

func (a *api) tenantSet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	res := jmap.NewSetResponse[adminapi.TenantCreated, jmap.None]()
	forbidden := func(perm string) *jmap.SetError {
		return &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("needs the %s permission, which %s lacks", perm, p.Name)}
	}
	can := func(perm string) bool { return p.Account == "" && p.Can(perm) }
	for _, cid := range sortedKeys(args.Create) {
		if !can(PermTenantCreate) {
			res.NotCreated[cid] = forbidden(PermTenantCreate)
			continue
		}
		var c adminapi.TenantCreate
		if se := decodeProps(args.Create[cid], &c); se != nil {
			res.NotCreated[cid] = se
			continue
		}
		if strings.TrimSpace(c.Name) == "" {
			res.NotCreated[cid] = invalidProps("name", "a tenant needs a name")
			continue
		}
		if c.Quota < 0 {
			res.NotCreated[cid] = invalidProps("quota", "%d is negative; 0 for none", c.Quota)
			continue
		}
		tid, err := a.s.CreateTenant(ctx, Tenant{Name: strings.TrimSpace(c.Name), Quota: c.Quota})
		if err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		res.Created[cid] = adminapi.TenantCreated{ID: tid}
	}
	for _, tid := range sortedKeys(args.Update) {
		if !can(PermTenantUpdate) {
			res.NotUpdated[tid] = forbidden(PermTenantUpdate)
			continue
		}
		var patch adminapi.TenantPatch
		if se := decodeProps(args.Update[tid], &patch); se != nil {
			res.NotUpdated[tid] = se
			continue
		}
		_, err := a.s.UpdateTenant(ctx, tid, func(t *Tenant) error {
			if patch.Name != nil {
				if strings.TrimSpace(*patch.Name) == "" {
					return invalidf("name", "a tenant needs a name")
				}
				t.Name = *patch.Name
			}
			if patch.Quota != nil {
				if *patch.Quota < 0 {
					return invalidf("quota", "%d is negative; 0 for none", *patch.Quota)
				}
				t.Quota = *patch.Quota
			}
			return nil
		})
		if err != nil {
			res.NotUpdated[tid] = setErr(err)
			continue
		}
		res.Updated[tid] = nil
	}
	for _, tid := range args.Destroy {
		if !can(PermTenantDestroy) {
			res.NotDestroyed[tid] = forbidden(PermTenantDestroy)
			continue
		}
		if err := a.s.DestroyTenant(ctx, tid); err != nil {
			se := setErr(err)
			if errors.Is(err, ErrInUse) {
				se.Type = "tenantInUse"
			}
			res.NotDestroyed[tid] = se
			continue
		}
		res.Destroyed = append(res.Destroyed, tid)
	}
	return res, nil
}

func (a *api) domainQuery(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.DomainFilter](raw)
	if err != nil {
		return nil, err
	}
	desc, err := byName(args.Sort, "domains")
	if err != nil {
		return nil, err
	}
	all, err := a.s.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range all {
		if f := args.Filter; f != nil && (f.Tenant != "" && f.Tenant != d.Tenant ||
			!strings.Contains(d.Name, strings.ToLower(f.Name))) {
			continue
		}
		ids = append(ids, d.Name)
	}
	if desc {
		reverse(ids)
	}
	return page(ids, args.Position, args.LimitOr(jmap.MaxObjectsInGet)), nil
}
