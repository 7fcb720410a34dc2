package adminapi

import (
	"encoding/json"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
)

// decodeFilter decodes a filter strictly into v: a property it does not know
// (or of the wrong type) is an unsupportedFilter error listing props.
func decodeFilter(raw []byte, v any, props string) error {
	if err := jmap.Args(raw, v); err != nil {
		desc := err.Error()
		if me, ok := err.(*jmap.MethodError); ok {
			desc = me.Description
		}
		return jmap.Errorf("unsupportedFilter", "%s (filter properties: %s)", desc, props)
	}
	return nil
}

// parseDate reads the date-time s of property prop (nil when absent).
func parseDate(prop string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, jmap.Errorf("invalidArguments", "%s: bad date-time %q: use RFC 3339, such as 2026-01-02T15:04:05Z", prop, *s)
	}
	return &t, nil
}

// oneOrMany reads a value that is one string or a list of them.
func oneOrMany(raw json.RawMessage) ([]string, bool) {
	if raw == nil {
		return nil, true
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	return many, json.Unmarshal(raw, &many) == nil
}
