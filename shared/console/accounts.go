package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// accountsData is what the accounts page draws.
type accountsData struct {
	Name, Domain string
	Accounts     []adminapi.Account
	Total        int
	Pos          int
	Prev, Next   int
}

// Query is the filter as a query string.
func (d accountsData) Query() string {
	q := url.Values{}
	if d.Name != "" {
		q.Set("name", d.Name)
	}
	if d.Domain != "" {
		q.Set("domain", d.Domain)
	}
	return q.Encode()
}

func (c *console) accountsPage(w http.ResponseWriter, r *http.Request, u *user) {
	pos, _ := strconv.Atoi(r.URL.Query().Get("pos"))
	data := &accountsData{Name: r.URL.Query().Get("name"), Domain: r.URL.Query().Get("domain"), Pos: max(pos, 0), Next: -1}
	cl := c.client(u)
	limit := pageSize
	f := adminapi.AccountFilter{Name: data.Name, Domain: data.Domain}
	var q jmap.QueryResponse
	if err := cl.Call(r.Context(), adminapi.MethodAccountQuery, adminapi.AccountQueryArgs{Filter: &f, Position: data.Pos, Limit: &limit, CalculateTotal: true}, &q); err != nil {
		c.render(w, r, u, http.StatusOK, "accounts", "Accounts", "accounts", data, flash{Kind: "error", Text: describe(err)})
		return
	}
	if len(q.IDs) > 0 {
		var res adminapi.AccountGetResponse
		if err := cl.Call(r.Context(), adminapi.MethodAccountGet, jmap.GetArgs{IDs: &q.IDs}, &res); err != nil {
			c.render(w, r, u, http.StatusOK, "accounts", "Accounts", "accounts", data, flash{Kind: "error", Text: describe(err)})
			return
		}
		data.Accounts = res.List
	}
	data.Total, data.Prev = q.Total, data.Pos-pageSize
	if data.Pos+pageSize < q.Total {
		data.Next = data.Pos + pageSize
	}
	c.render(w, r, u, http.StatusOK, "accounts", "Accounts", "accounts", data)
}

// accountData is what an account's page draws: the account, and the
// traces of the mail it received and sent lately.
type accountData struct {
	Account adminapi.Account
	// Traces are the mail "Received" and "Sent", by direction.
	Traces     map[string][]adminapi.Trace
	TraceError string
}

// recentTraces is how many traces of each direction an account's page
// shows.
const recentTraces = 20

func (c *console) accountPage(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	cl := c.client(u)
	var res adminapi.AccountGetResponse
	if err := cl.Call(r.Context(), adminapi.MethodAccountGet, jmap.GetArgs{IDs: &[]string{id}}, &res); err != nil {
		c.fail(w, r, u, http.StatusOK, err)
		return
	}
	if len(res.List) == 0 {
		c.render(w, r, u, http.StatusNotFound, "error", "Error", "accounts", nil, flash{Kind: "error", Text: "no account " + id})
		return
	}
	data := &accountData{Account: res.List[0], Traces: map[string][]adminapi.Trace{}}
	for _, addr := range data.Account.Addresses {
		for dir, f := range map[string]adminapi.TraceFilter{"Received": {Rcpt: addr}, "Sent": {Sender: addr}} {
			list, err := c.traces(r, u, f)
			if err != nil {
				data.TraceError = describe(err)
				continue
			}
			data.Traces[dir] = append(data.Traces[dir], list...)
		}
	}
	c.render(w, r, u, http.StatusOK, "account", "Account "+data.Account.Name, "accounts", data)
}

// traces are the most recent traces f keeps.
func (c *console) traces(r *http.Request, u *user, f adminapi.TraceFilter) ([]adminapi.Trace, error) {
	cl := c.client(u)
	limit := recentTraces
	var q jmap.QueryResponse
	if err := cl.Call(r.Context(), adminapi.MethodTraceQuery, adminapi.TraceQueryArgs{Filter: &f, Limit: &limit}, &q); err != nil {
		return nil, err
	}
	if len(q.IDs) == 0 {
		return nil, nil
	}
	var res adminapi.TraceGetResponse
	if err := cl.Call(r.Context(), adminapi.MethodTraceGet, jmap.GetArgs{IDs: &q.IDs}, &res); err != nil {
		return nil, err
	}
	return res.List, nil
}
