package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// StatusType is the "@type" of a status.
type StatusType string

// The statuses of the reference.
const (
	Pending StatusType = "Pending"
	Retry   StatusType = "Retry"
	Failed  StatusType = "Failed"
)

// Status is a task's TaskStatus. Which fields are set depends on Type.
type Status struct {
	Type StatusType `json:"@type"`
	// Due is when a Pending or Retry task runs next.
	Due time.Time `json:"due,omitzero"`
	// AttemptNumber is the attempt a Retry task failed last (from 1).
	AttemptNumber int `json:"attemptNumber,omitempty"`
	// FailedAt and FailedAttemptNumber describe a Failed task's last attempt.
	FailedAt            time.Time `json:"failedAt,omitzero"`
	FailedAttemptNumber int       `json:"failedAttemptNumber,omitempty"`
	// FailureReason is the last attempt's error (Retry and Failed).
	FailureReason string `json:"failureReason,omitempty"`
}

// Attempts is how many attempts the task has made.
func (s Status) Attempts() int {
	switch s.Type {
	case Retry:
		return s.AttemptNumber
	case Failed:
		return s.FailedAttemptNumber
	}
	return 0
}

// Runnable reports whether the task waits to run.
func (s Status) Runnable() bool { return s.Type == Pending || s.Type == Retry }

// Task is a background task.
type Task struct {
	ID        string
	Status    Status
	CreatedAt time.Time
	Payload   Payload
	// ActiveSince is when the task was created or last retried by hand: the
	// start of its totalDeadline.
	ActiveSince time.Time
}

// Variant is the task's variant.
func (t *Task) Variant() Variant { return t.Payload.Variant() }

// MarshalJSON writes the public (API) form: the variant's fields with
// "@type", "id" and "status". (Creation time stays internal: one variant,
// RestoreArchivedItem, has a createdAt of its own.) No variant has fields
// of those three names, so they are put in front of the variant's own
// without decoding them again: this runs for every task written.
func (t *Task) MarshalJSON() ([]byte, error) {
	fields, err := json.Marshal(t.Payload)
	if err != nil {
		return nil, err
	}
	if len(fields) < 2 || fields[0] != '{' {
		return nil, fmt.Errorf("task %s: fields are not a JSON object", t.ID)
	}
	typ, _ := json.Marshal(t.Variant())
	id, _ := json.Marshal(t.ID)
	status, err := json.Marshal(t.Status)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(fields)+len(typ)+len(id)+len(status)+32)
	out = append(out, `{"@type":`...)
	out = append(out, typ...)
	out = append(out, `,"id":`...)
	out = append(out, id...)
	out = append(out, `,"status":`...)
	out = append(out, status...)
	if len(fields) > 2 {
		out = append(out, ',')
	}
	return append(out, fields[1:]...), nil
}

// stored is the KV form: the public form plus the internal fields.
type stored struct {
	Task        json.RawMessage `json:"task"`
	CreatedAt   time.Time       `json:"createdAt"`
	ActiveSince time.Time       `json:"activeSince"`
}

// Encode writes the form kept in the task store: the bytes
// json.Marshal(stored{...}) would give, written directly, so that the
// public form (valid, compact JSON already) is not checked and compacted
// once more for every task written.
func (t *Task) Encode() ([]byte, error) {
	pub, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	created, err := t.CreatedAt.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("task %s: createdAt: %w", t.ID, err)
	}
	active, err := t.ActiveSince.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("task %s: activeSince: %w", t.ID, err)
	}
	out := make([]byte, 0, len(pub)+len(created)+len(active)+40)
	out = append(out, `{"task":`...)
	out = append(out, pub...)
	out = append(out, `,"createdAt":`...)
	out = append(out, created...)
	out = append(out, `,"activeSince":`...)
	out = append(out, active...)
	return append(out, '}'), nil
}

// Decode reads the form kept in the task store. Tasks are decoded for
// every run, so the form Encode writes is read on a short path (decodeFast)
// that decodes the variant's fields once; anything else, and anything that
// path is unsure of, is read by decodeSlow, whose result it equals.
func Decode(data []byte) (*Task, error) {
	if t, ok := decodeFast(data); ok {
		return t, nil
	}
	return decodeSlow(data)
}

// decodeSlow reads any stored form json.Marshal(stored) may give, in three
// passes: the envelope, the common fields, the variant's fields.
func decodeSlow(data []byte) (*Task, error) {
	var s stored
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode stored task: %w", err)
	}
	var head struct {
		Type   Variant `json:"@type"`
		ID     string  `json:"id"`
		Status Status  `json:"status"`
	}
	if err := json.Unmarshal(s.Task, &head); err != nil {
		return nil, fmt.Errorf("decode stored task: %w", err)
	}
	sp, ok := specs[head.Type]
	if !ok {
		return nil, fmt.Errorf("decode stored task %s: unknown type %q", head.ID, head.Type)
	}
	p := sp.new()
	if err := json.Unmarshal(s.Task, p); err != nil {
		return nil, fmt.Errorf("decode stored task %s: %w", head.ID, err)
	}
	return &Task{ID: head.ID, Status: head.Status, CreatedAt: s.CreatedAt, Payload: p, ActiveSince: s.ActiveSince}, nil
}

// The fixed parts of the form Encode writes, as decodeFast expects them.
var (
	fastStart   = []byte(`{"task":{"@type":"`)
	fastID      = []byte(`","id":"`)
	fastStatus  = []byte(`","status":`)
	fastCreated = []byte(`},"createdAt":`)
	fastActive  = []byte(`,"activeSince":`)
)

// decodeFast reads the form Encode writes, {"task":{"@type":"V","id":"I",
// "status":{...},<fields>},"createdAt":"...","activeSince":"..."}, without
// decoding the envelope and the common fields as JSON objects of their
// own: the type and id are read in place, each time on its own, and the
// status with the variant's fields in one pass over the task object (see
// withStatus). ok is false whenever the data is not exactly of that shape
// or any part fails, and decodeSlow then reads it.
func decodeFast(data []byte) (*Task, bool) {
	rest, ok := bytes.CutPrefix(data, fastStart)
	if !ok {
		return nil, false
	}
	typ, rest, ok := plainString(rest, fastID)
	if !ok {
		return nil, false
	}
	id, _, ok := plainString(rest, fastStatus)
	if !ok {
		return nil, false
	}
	wrapper, ok := withStatus[Variant(typ)]
	if !ok {
		return nil, false
	}
	// The task object ends where the envelope's createdAt starts: the
	// last occurrence, as a variant's own createdAt would come before it.
	end := bytes.LastIndex(data, fastCreated)
	if end < 0 {
		return nil, false
	}
	pub := data[len(`{"task":`) : end+1]
	times, ok := bytes.CutPrefix(data[end+1:], fastCreated[1:])
	if !ok {
		return nil, false
	}
	created, times, ok := bytes.Cut(times, fastActive)
	if !ok || len(times) == 0 || times[len(times)-1] != '}' {
		return nil, false
	}
	active := times[:len(times)-1]
	t := &Task{ID: string(id)}
	if t.CreatedAt.UnmarshalJSON(created) != nil || t.ActiveSince.UnmarshalJSON(active) != nil {
		return nil, false
	}
	w := reflect.New(wrapper)
	if json.Unmarshal(pub, w.Interface()) != nil {
		return nil, false
	}
	t.Payload = w.Elem().Field(0).Addr().Interface().(Payload)
	t.Status = w.Elem().Field(1).Interface().(Status)
	return t, true
}

// withStatus holds, per variant, a struct type that embeds the variant's
// payload struct and adds the status: decoding the task object into it
// reads the variant's fields (promoted from the embedded struct) and the
// status in one pass; "@type" and "id" are skipped. A variant whose type
// cannot be built so (reflect.StructOf refuses some embeddings) is missing,
// and its tasks are read by decodeSlow.
var withStatus = func() map[Variant]reflect.Type {
	out := map[Variant]reflect.Type{}
	for v, sp := range specs {
		func() {
			defer func() { _ = recover() }()
			pt := reflect.TypeOf(sp.new())
			if pt.Kind() != reflect.Pointer || pt.Elem().Kind() != reflect.Struct {
				return
			}
			out[v] = reflect.StructOf([]reflect.StructField{
				{Name: pt.Elem().Name(), Type: pt.Elem(), Anonymous: true},
				{Name: "Status", Type: reflect.TypeOf(Status{}), Tag: `json:"status"`},
			})
		}()
	}
	return out
}()

// plainString reads a JSON string's contents up to the closing quote that
// starts next, and returns the bytes after next. ok is false unless every
// byte of the string is printable ASCII other than a backslash (which
// would need decoding), or when next does not follow.
func plainString(b, next []byte) (s, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] != '"'; i++ {
		if b[i] < 0x20 || b[i] > 0x7e || b[i] == '\\' {
			return nil, nil, false
		}
	}
	rest, ok = bytes.CutPrefix(b[i:], next)
	return b[:i], rest, ok
}

// serverSet are the properties a client may not give on create.
var serverSet = []string{"id"}

// DecodeCreate reads a task a client asks to create: "@type", the variant's
// fields, and optionally "status" {"@type": "Pending", "due": ...} to run it
// later. Every problem is returned, each naming its property.
func DecodeCreate(raw json.RawMessage) (Payload, *time.Time, []PropertyError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, nil, []PropertyError{{"", "a task must be a JSON object"}}
	}
	var errs []PropertyError
	var typ string
	if err := json.Unmarshal(m["@type"], &typ); err != nil || typ == "" {
		return nil, nil, []PropertyError{{"@type", "is required: the task's type, such as \"IndexDocument\""}}
	}
	v, err := ParseVariant(typ)
	if err != nil {
		return nil, nil, []PropertyError{{"@type", err.Error()}}
	}
	delete(m, "@type")
	for _, p := range serverSet {
		if _, ok := m[p]; ok {
			errs = append(errs, PropertyError{p, "is set by the server"})
			delete(m, p)
		}
	}
	var due *time.Time
	if rawStatus, ok := m["status"]; ok {
		delete(m, "status")
		var st struct {
			Type StatusType `json:"@type"`
			Due  *time.Time `json:"due"`
		}
		if bad := badDates(rawStatus, map[string]bool{"due": true}, "status/"); len(bad) > 0 {
			errs = append(errs, bad...)
		} else if err := strictUnmarshal(rawStatus, &st); err != nil {
			errs = append(errs, typeError("status", err))
		} else if st.Type != Pending {
			errs = append(errs, PropertyError{"status/@type", "a new task's status must be Pending"})
		} else {
			due = st.Due
		}
	}
	p := New(v)
	rest, _ := json.Marshal(m)
	if bad := badDates(rest, timeFields(p), ""); len(bad) > 0 {
		errs = append(errs, bad...)
	} else if err := strictUnmarshal(rest, p); err != nil {
		errs = append(errs, typeError("", err))
	} else {
		errs = append(errs, p.check()...)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Property < errs[j].Property })
		return nil, nil, errs
	}
	if d, ok := p.(*DestroyAccountTask); ok {
		d.Resolve()
	}
	return p, due, nil
}

// Check validates a payload built in Go (by a service).
func Check(p Payload) error {
	if errs := p.check(); len(errs) > 0 {
		parts := make([]string, len(errs))
		for i, e := range errs {
			parts[i] = e.Error()
		}
		return fmt.Errorf("%s: %s", p.Variant(), strings.Join(parts, "; "))
	}
	return nil
}

// timeFields lists the JSON names of a payload's date-time fields.
func timeFields(p Payload) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(p).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == reflect.TypeOf(time.Time{}) {
			out[strings.Split(f.Tag.Get("json"), ",")[0]] = true
		}
	}
	return out
}

// badDates reports the date-time fields of a JSON object that are not RFC
// 3339 strings, so that the error can name them.
func badDates(raw []byte, fields map[string]bool, prefix string) []PropertyError {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []PropertyError
	for name := range fields {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			out = append(out, PropertyError{prefix + name, fmt.Sprintf("must be an RFC 3339 date-time string, got %s", v)})
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			out = append(out, PropertyError{prefix + name, fmt.Sprintf("bad date-time %q: use RFC 3339, such as 2026-01-02T15:04:05Z", s)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Property < out[j].Property })
	return out
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// typeError turns a JSON decoding error into a property error.
func typeError(prefix string, err error) PropertyError {
	join := func(field string) string {
		field = strings.ReplaceAll(field, ".", "/")
		if prefix == "" {
			return field
		}
		if field == "" {
			return prefix
		}
		return prefix + "/" + field
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return PropertyError{join(te.Field), fmt.Sprintf("must be %s, got a JSON %s", jsonKind(te.Type.String()), te.Value)}
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return PropertyError{join(""), fmt.Sprintf("bad date-time %s: use RFC 3339, such as 2026-01-02T15:04:05Z", pe.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return PropertyError{join(strings.Trim(f, `"`)), "is not a property of this type"}
	}
	if strings.Contains(msg, "parsing time") {
		return PropertyError{join(""), "bad date-time: use RFC 3339, such as 2026-01-02T15:04:05Z"}
	}
	return PropertyError{join(""), msg}
}

func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}

// EncodePayload writes a task's own fields with its "@type", as a trigger
// carries them.
func EncodePayload(p Payload) []byte {
	fields, _ := json.Marshal(p)
	typ, _ := json.Marshal(p.Variant())
	if len(fields) <= 2 {
		return []byte(`{"@type":` + string(typ) + `}`)
	}
	return append([]byte(`{"@type":`+string(typ)+`,`), fields[1:]...)
}

// DecodePayload reads what EncodePayload wrote, for variant v.
func DecodePayload(v Variant, data []byte) (Payload, error) {
	sp, ok := specs[v]
	if !ok {
		return nil, fmt.Errorf("unknown task type %q", v)
	}
	p := sp.new()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s fields: %w", v, err)
	}
	return p, nil
}
