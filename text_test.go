package vytalwatch_test

import (
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch"
)

func TestValidPatientID(t *testing.T) {
	valid := []string{"p1", "10006", "P-1.a:b_c", strings.Repeat("x", 200)}
	for _, id := range valid {
		if !vytalwatch.ValidPatientID(id) {
			t.Errorf("ValidPatientID(%q) = false, want true", id)
		}
	}
	invalid := []string{"", "a/b", "p 1", "-p1", ".p1", "p\x00", "p\xff", "pé", strings.Repeat("x", 201), "p\n"}
	for _, id := range invalid {
		if vytalwatch.ValidPatientID(id) {
			t.Errorf("ValidPatientID(%q) = true, want false", id)
		}
	}
}

func TestCheckTextAndLine(t *testing.T) {
	cases := []struct {
		text      string
		textError string // CheckText's error, "" for none
		lineError string // CheckLine's error, "" for none
	}{
		{"plain", "", ""},
		{"Blutdruckmessgerät \ufffd", "", ""},
		{"two\nlines\tand\r", "", "the control character U+000A at byte 3"},
		{"a\x00b", "the NUL character (U+0000) at byte 1", "the NUL character (U+0000) at byte 1"},
		{"ab\x1b", "the control character U+001B at byte 2", "the control character U+001B at byte 2"},
		{"del\x7f", "the control character U+007F at byte 3", "the control character U+007F at byte 3"},
		{"é\xff", "invalid UTF-8 at byte 2", "invalid UTF-8 at byte 2"},
		{"\xc3", "invalid UTF-8 at byte 0", "invalid UTF-8 at byte 0"},
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	for _, tc := range cases {
		if got := errText(vytalwatch.CheckText(tc.text)); got != tc.textError {
			t.Errorf("CheckText(%q) = %q, want %q", tc.text, got, tc.textError)
		}
		if got := errText(vytalwatch.CheckLine(tc.text)); got != tc.lineError {
			t.Errorf("CheckLine(%q) = %q, want %q", tc.text, got, tc.lineError)
		}
	}
}

func TestFindBadJSONText(t *testing.T) {
	cases := []struct {
		name string
		data string
		path string
		err  string
	}{
		{"clean", `{"a":"x","b":[1,"y",{"c":null}]}`, "", ""},
		{"clean with escapes", `{"a":"x\ny\u00e9"}`, "", ""},
		{"NUL in value", `{"a":"ok","b":"x\u0000"}`, "b", "the NUL character (U+0000) at byte 1"},
		{"NUL in nested list", `{"a":{"b":[1,true,"ok","\u0001"]}}`, "a.b[3]", "the control character U+0001 at byte 0"},
		{"NUL in list of objects", `[{"id":"ok"},{"id":"x","device_id":"d\u0000"}]`, "[1].device_id", "the NUL character (U+0000) at byte 1"},
		{"NUL in key", `{"thresholds":{"x\u0000":1}}`, `thresholds."x\x00"`, "the NUL character (U+0000) at byte 1"},
		{"DEL unescaped", "{\"a\":\"x\x7f\"}", "a", "the control character U+007F at byte 1"},
		{"invalid UTF-8 in value", "{\"a\":\"ok\",\"b\":[\"x\xff\"]}", "b[0]", "invalid UTF-8"},
		{"invalid UTF-8 in key", "{\"k\xff\":1}", `"k\ufffd"`, "invalid UTF-8"},
		{"top-level string", `"\u0000"`, "", "the NUL character (U+0000) at byte 0"},
		{"syntax error first", `{"a" "\u0000"}`, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, err := vytalwatch.FindBadJSONText([]byte(tc.data), vytalwatch.CheckText)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if path != tc.path {
				t.Errorf("path = %q, want %q", path, tc.path)
			}
			if got != tc.err {
				t.Errorf("error = %q, want %q", got, tc.err)
			}
		})
	}
}
