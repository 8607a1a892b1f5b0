package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	imsiRe   = regexp.MustCompile(`^[0-9]{15}$`)
	msisdnRe = regexp.MustCompile(`^\+?[1-9][0-9]{1,14}$`)
	fromRe   = regexp.MustCompile(`^([A-Za-z0-9]{1,11}|[0-9]{1,15})$`)
	connIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
)

const maxBody = 64 << 10

func normMSISDN(s string) string { return strings.TrimPrefix(s, "+") }

// body is a decoded request body: JSON values, or form strings.
type body struct {
	json map[string]json.RawMessage
	form url.Values
}

// decodeBody reads a JSON object or a form-encoded body. An empty body is an empty object.
func decodeBody(r *http.Request) (*body, *apiErr) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(raw) > maxBody {
		return nil, fail(400, "body_invalid", "body unreadable or larger than 64 KiB")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, fail(400, "body_invalid", "form body: %v", err)
		}
		return &body{form: v}, nil
	}
	b := &body{json: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(raw, &b.json); err != nil || b.json == nil {
		return nil, fail(400, "body_invalid", "body must be a JSON object or a form")
	}
	return b, nil
}

// str returns a string field: present reports whether it was sent, ok whether it is a string.
func (b *body) str(name string) (v string, present, ok bool) {
	if b.form != nil {
		if _, present = b.form[name]; !present {
			return "", false, true
		}
		return b.form.Get(name), true, true
	}
	raw, present := b.json[name]
	if !present {
		return "", false, true
	}
	return v, true, json.Unmarshal(raw, &v) == nil
}

// boolean returns a boolean field; in forms only "true" and "false" are booleans.
func (b *body) boolean(name string) (v bool, present, ok bool) {
	if b.form != nil {
		if _, present = b.form[name]; !present {
			return false, false, true
		}
		switch b.form.Get(name) {
		case "true":
			return true, true, true
		case "false":
			return false, true, true
		}
		return false, true, false
	}
	raw, present := b.json[name]
	if !present {
		return false, false, true
	}
	return v, true, json.Unmarshal(raw, &v) == nil
}
