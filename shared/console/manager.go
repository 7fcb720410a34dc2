package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

// managerForm is the task manager's policy as its form shows it: the
// values as typed, and the API's reason next to each field it refused.
type managerForm struct {
	MaxAttempts   string
	Strategy      string // FixedDelay or ExponentialBackoff
	Delay         string
	Factor        string
	InitialDelay  string
	MaxDelay      string
	Jitter        bool
	TotalDeadline string
	// Errors are the API's reasons by form field.
	Errors map[string]string
}

func formOf(s task.Settings) managerForm {
	f := managerForm{MaxAttempts: strconv.Itoa(s.MaxAttempts), Strategy: string(s.Strategy.Type), TotalDeadline: duration.Format(s.TotalDeadline)}
	switch s.Strategy.Type {
	case task.FixedDelay:
		f.Delay = duration.Format(s.Strategy.Delay)
		d := task.DefaultSettings.Strategy
		f.Factor, f.InitialDelay, f.MaxDelay, f.Jitter = strconv.FormatFloat(d.Factor, 'g', -1, 64), duration.Format(d.InitialDelay), duration.Format(d.MaxDelay), d.Jitter
	default:
		f.Factor = strconv.FormatFloat(s.Strategy.Factor, 'g', -1, 64)
		f.InitialDelay, f.MaxDelay, f.Jitter = duration.Format(s.Strategy.InitialDelay), duration.Format(s.Strategy.MaxDelay), s.Strategy.Jitter
		f.Delay = "10m"
	}
	return f
}

func (c *console) managerPage(w http.ResponseWriter, r *http.Request, u *user) {
	var res adminapi.TaskManagerGetResponse
	if err := c.client(u).Call(r.Context(), adminapi.MethodTaskManagerGet, jmap.GetArgs{}, &res); err != nil {
		c.render(w, r, u, http.StatusOK, "manager", "Task manager", "manager", nil, flash{Kind: "error", Text: describe(err)})
		return
	}
	if len(res.List) == 0 {
		c.render(w, r, u, http.StatusOK, "manager", "Task manager", "manager", nil, flash{Kind: "error", Text: "the task manager object is missing"})
		return
	}
	f := formOf(res.List[0])
	c.render(w, r, u, http.StatusOK, "manager", "Task manager", "manager", &f)
}

// managerSave sends the form as one x:TaskManager/set update, and shows
// the API's reasons next to the fields it refused, with what was typed.
func (c *console) managerSave(w http.ResponseWriter, r *http.Request, u *user) {
	f := managerForm{
		MaxAttempts: strings.TrimSpace(r.PostFormValue("maxAttempts")), Strategy: r.PostFormValue("strategy"),
		Delay: strings.TrimSpace(r.PostFormValue("delay")), Factor: strings.TrimSpace(r.PostFormValue("factor")),
		InitialDelay: strings.TrimSpace(r.PostFormValue("initialDelay")), MaxDelay: strings.TrimSpace(r.PostFormValue("maxDelay")),
		Jitter: r.PostFormValue("jitter") == "on", TotalDeadline: strings.TrimSpace(r.PostFormValue("totalDeadline")),
		Errors: map[string]string{},
	}
	patch := map[string]any{"totalDeadline": f.TotalDeadline}
	// A number the API can judge: what is not one goes as typed, a string,
	// so that the API's reason names the property.
	if n, err := strconv.Atoi(f.MaxAttempts); err == nil {
		patch["maxAttempts"] = n
	} else {
		patch["maxAttempts"] = f.MaxAttempts
	}
	switch task.StrategyType(f.Strategy) {
	case task.FixedDelay:
		patch["strategy"] = adminapi.NewFixedDelay(f.Delay)
	default:
		factor, err := strconv.ParseFloat(f.Factor, 64)
		if err != nil {
			f.Errors["factor"] = "a number, such as 2"
		}
		patch["strategy"] = adminapi.NewExponentialBackoff(factor, f.InitialDelay, f.MaxDelay, f.Jitter)
	}
	if len(f.Errors) > 0 {
		c.render(w, r, u, http.StatusBadRequest, "manager", "Task manager", "manager", &f, flash{Kind: "error", Text: "not saved: see the fields marked"})
		return
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		c.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	var res adminapi.TaskManagerSetResponse
	err = c.client(u).Call(r.Context(), adminapi.MethodTaskManagerSet, jmap.SetArgs{Update: map[string]json.RawMessage{task.SingletonID: raw}}, &res)
	if err != nil {
		c.render(w, r, u, http.StatusOK, "manager", "Task manager", "manager", &f, flash{Kind: "error", Text: describe(err)})
		return
	}
	if e, ok := res.NotUpdated[task.SingletonID]; ok {
		fieldErrors(e, f.Errors)
		c.render(w, r, u, http.StatusBadRequest, "manager", "Task manager", "manager", &f, flash{Kind: "error", Text: "not saved: " + e.Description})
		return
	}
	c.audit(r, u, "task manager update", "update", string(raw))
	redirectOK(w, r, "/ui/taskmanager", "saved: the new policy applies to the next attempts")
}

// fieldErrors spreads an invalidProperties error over the form's fields:
// its description is "property: reason" per property, joined by "; ".
func fieldErrors(e *jmap.SetError, out map[string]string) {
	reasons := strings.Split(e.Description, "; ")
	for i, prop := range e.Properties {
		why := e.Description
		if len(reasons) == len(e.Properties) {
			why = strings.TrimPrefix(reasons[i], prop+": ")
		}
		field := prop
		if after, ok := strings.CutPrefix(prop, "strategy/"); ok {
			field = after
		}
		out[field] = why
	}
}
