package rules

import (
	"math"
	"strconv"
	"strings"

	"github.com/vytalwatch/vytalwatch/operators"
)

// template is a message with {{ expression }} parts, such as
// 'BP {{ last("systolic_bp") }}/{{ last("diastolic_bp") }} mmHg'.
type template struct {
	parts []templatePart
}

type templatePart struct {
	text string
	expr bool
}

// parseTemplate splits a message into text and expressions. It returns
// the offset of an unclosed "{{" as an error position, or -1.
func parseTemplate(s string) (*template, int) {
	t := &template{}
	for len(s) > 0 {
		start := strings.Index(s, "{{")
		if start < 0 {
			t.parts = append(t.parts, templatePart{text: s})
			break
		}
		if start > 0 {
			t.parts = append(t.parts, templatePart{text: s[:start]})
		}
		end := strings.Index(s[start:], "}}")
		if end < 0 {
			return nil, start
		}
		t.parts = append(t.parts, templatePart{text: strings.TrimSpace(s[start+2 : start+end]), expr: true})
		s = s[start+end+2:]
	}
	return t, -1
}

// render writes the template with each expression's value; eval returns
// the value of the k-th part. Unknown values print as "?", so a message
// never shows a made-up number.
func (t *template) render(eval func(k int) (any, error)) string {
	var b strings.Builder
	for k, p := range t.parts {
		if !p.expr {
			b.WriteString(p.text)
			continue
		}
		v, err := eval(k)
		if err != nil {
			b.WriteString("?")
			continue
		}
		b.WriteString(formatValue(v))
	}
	return b.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) {
			return "?"
		}
		return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case operators.Truth:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return "?"
}
