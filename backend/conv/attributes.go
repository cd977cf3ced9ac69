package conv

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// AttributeType is the type of a custom attribute.
type AttributeType string

// Attribute types of DESIGN §8.
const (
	AttrString AttributeType = "string"
	AttrNumber AttributeType = "number"
	AttrBool   AttributeType = "bool"
	AttrEnum   AttributeType = "enum"
)

// AttributeDef defines one custom attribute of a workspace.
type AttributeDef struct {
	Key    string        `json:"key"`
	Type   AttributeType `json:"type"`
	Values []string      `json:"values,omitempty"` // enum only
}

// Schema is a workspace's attribute definitions, by key.
type Schema map[string]AttributeDef

// NewSchema indexes defs by key.
func NewSchema(defs []AttributeDef) Schema {
	s := make(Schema, len(defs))
	for _, d := range defs {
		s[d.Key] = d
	}
	return s
}

// CheckAttributes validates values against s (rule 10). A nil schema
// checks only the shape: a device that does not know the workspace's
// definitions leaves the verdict to the relay. A nil value clears a key when
// clearing is allowed.
func CheckAttributes(s Schema, values map[string]any, allowClear bool) error {
	if len(values) > MaxAttributeKeys {
		return reject(CodeInvalid, "at most %d attributes at once, got %d", MaxAttributeKeys, len(values))
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one verdict for one input, whatever the map order
	for _, k := range keys {
		v := values[k]
		if k == "" || utf8.RuneCountInString(k) > MaxIDChars {
			return reject(CodeInvalid, "attribute key %q is empty or too long", k)
		}
		if v == nil {
			if !allowClear {
				return reject(CodeInvalidAttribute, "attribute %q: null is not a value here", k)
			}
			if s != nil {
				if _, ok := s[k]; !ok {
					return reject(CodeUnknownAttribute, "attribute %q is not defined in this workspace", k)
				}
			}
			continue
		}
		if s == nil {
			if !isScalar(v) {
				return reject(CodeInvalidAttribute, "attribute %q: want a string, number or boolean", k)
			}
			continue
		}
		def, ok := s[k]
		if !ok {
			return reject(CodeUnknownAttribute, "attribute %q is not defined in this workspace", k)
		}
		if err := checkValue(def, v); err != nil {
			return err
		}
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, float64, float32, int, int64, json.Number:
		return true
	}
	return false
}

func checkValue(def AttributeDef, v any) error {
	bad := func(want string) error {
		return reject(CodeInvalidAttribute, "attribute %q is of type %s: want %s, got %s", def.Key, def.Type, want, describe(v))
	}
	switch def.Type {
	case AttrString:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if utf8.RuneCountInString(s) > MaxAttributeChars {
			return reject(CodeInvalidAttribute, "attribute %q: at most %d characters", def.Key, MaxAttributeChars)
		}
	case AttrNumber:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case float32:
			f = float64(n)
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case json.Number:
			x, err := n.Float64()
			if err != nil {
				return bad("a number")
			}
			f = x
		default:
			return bad("a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("a finite number")
		}
	case AttrBool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case AttrEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(def.Values, s) {
			return bad("one of " + strings.Join(def.Values, ", "))
		}
	default:
		return reject(CodeInvalidAttribute, "attribute %q has an unknown type %q", def.Key, def.Type)
	}
	return nil
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 40 {
		switch v.(type) {
		case string:
			return "a string"
		case bool:
			return "a boolean"
		case float64, float32, int, int64, json.Number:
			return "a number"
		}
		return "a value of another type"
	}
	return string(b)
}
