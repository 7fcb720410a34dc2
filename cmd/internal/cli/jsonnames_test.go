package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/task"
)

// Every object the commands print with -o json (and queue export writes)
// names its fields as the API does, in lower camel case: no Go field
// name ("ID", "Address", "ORCPT") leaks through an untagged field.
func TestJSONOutputUsesTheAPINames(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		adminapi.QueueEntry{}, adminapi.QueueMessage{}, adminapi.Trace{}, adminapi.Account{}, adminapi.Domain{},
		adminapi.Email{}, adminapi.VirtualQueue{}, adminapi.TaskSetResponse{}, task.Settings{}, cluster.RoleReport{},
	} {
		for _, bad := range untaggedFields(reflect.TypeOf(v), map[reflect.Type]bool{}) {
			t.Errorf("%T: %s", v, bad)
		}
	}
}

var marshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

// untaggedFields lists the exported fields, in t and the types it holds,
// that JSON would name other than in lower camel case.
func untaggedFields(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
		return nil
	}
	seen[t] = true
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			out = append(out, untaggedFields(f.Type, seen)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if r := []rune(name); !unicode.IsLower(r[0]) && r[0] != '@' {
			out = append(out, t.Name()+"."+f.Name+" is written as "+name)
		}
		out = append(out, untaggedFields(f.Type, seen)...)
	}
	return out
}

func TestUntaggedFieldsFindsThem(t *testing.T) {
	t.Parallel()
	type inner struct{ ORCPT string }
	type outer struct {
		ID    string `json:"id"`
		Inner []inner
	}
	require.Equal(t, []string{"outer.Inner is written as Inner", "inner.ORCPT is written as ORCPT"}, untaggedFields(reflect.TypeOf(outer{}), map[reflect.Type]bool{}))
}
