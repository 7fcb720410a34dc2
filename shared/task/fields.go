package task

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FromFields builds the create object of variant v from name=value strings,
// as typed on a command line, each name with the values given for it in
// order: each value is converted to its field's JSON type (strings stay
// strings, "true" becomes a boolean, "a,b" a list or a set). A list or
// set given more than once holds every value given; any other field
// given twice is an error, not a silent choice. Validate the result with
// DecodeCreate.
func FromFields(v Variant, given map[string][]string) (json.RawMessage, error) {
	sp, ok := specs[v]
	if !ok {
		_, err := ParseVariant(string(v))
		return nil, err
	}
	types := map[string]reflect.Type{}
	t := reflect.TypeOf(sp.new()).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		types[strings.Split(f.Tag.Get("json"), ",")[0]] = f.Type
	}
	obj := map[string]any{"@type": v}
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		vals := given[name]
		if len(vals) == 0 {
			continue
		}
		typ, known := types[name]
		list := known && (typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String || typ.Kind() == reflect.Map && typ.Elem().Kind() == reflect.Bool)
		if len(vals) > 1 && !list {
			return nil, fmt.Errorf("%s: given %d times (%s); it takes one value", name, len(vals), strings.Join(vals, ", "))
		}
		val := strings.Join(vals, ",")
		if !known {
			obj[name] = val // DecodeCreate names it as unknown
			continue
		}
		switch {
		case typ.Kind() == reflect.String, typ == reflect.TypeOf(time.Time{}):
			obj[name] = val
		case typ.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not true or false", name, val)
			}
			obj[name] = b
		case typ.Kind() == reflect.Int, typ.Kind() == reflect.Pointer && typ.Elem().Kind() == reflect.Int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a whole number", name, val)
			}
			obj[name] = n
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
			obj[name] = splitList(val)
		case typ.Kind() == reflect.Map && typ.Elem().Kind() == reflect.Bool:
			set := map[string]bool{}
			for _, k := range splitList(val) {
				set[k] = true
			}
			obj[name] = set
		default:
			var raw json.RawMessage
			if err := json.Unmarshal([]byte(val), &raw); err != nil {
				return nil, fmt.Errorf("%s: give it as JSON (%v)", name, err)
			}
			obj[name] = raw
		}
	}
	return json.Marshal(obj)
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FieldNames lists variant v's properties, for help text.
func FieldNames(v Variant) []string {
	t := reflect.TypeOf(specs[v].new()).Elem()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		out = append(out, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	return out
}
