package wsgateway

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestParseClientMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		ok    bool
		param string
	}{
		{`{"type":"subscribe","query":"status=open&team=billing"}`, true, ""},
		{`{"type":"subscribe"}`, true, ""},
		{`{"type":"subscribe","query":"status=opne"}`, false, "status"},
		{`{"type":"subscribe","query":"%zz"}`, false, "query"},
		{`{"type":"unsubscribe"}`, false, "type"},
		{`{"type":"subscribe","extra":1}`, false, ""},
		{`{"type":"subscribe"} {"type":"subscribe"}`, false, ""},
		{`not json`, false, ""},
		{``, false, ""},
		{strings.Repeat("[", 5000), false, ""},
		{`{"type":"subscribe","query":"` + strings.Repeat("team=a&", 100) + `"}`, false, "team"},
		{"{\"type\":\"subscribe\",\"query\":\"team=\xff\"}", true, ""}, // JSON makes it U+FFFD: a valid name
	}
	for _, tc := range tests {
		_, q, err := ParseClientMessage([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Fatalf("ParseClientMessage(%.60q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil {
			var derr *domain.Error
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			if tc.param != "" && (!errors.As(err, &derr) || derr.Param != tc.param) {
				t.Fatalf("error %v does not name %q", err, tc.param)
			}
			continue
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerMessagesAreValidJSON(t *testing.T) {
	t.Parallel()
	c := domain.Cursor{UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ID: 42}
	var end struct {
		Type   string `json:"type"`
		Sub    int    `json:"sub"`
		Rows   int    `json:"rows"`
		Cursor string `json:"cursor"`
	}
	if err := json.Unmarshal(endMessage(3, 120, 2, c), &end); err != nil || end.Cursor != c.String() || end.Rows != 120 || end.Sub != 3 {
		t.Fatalf("end message %+v, %v", end, err)
	}
	snap := append(snapshotPrefix(nil, 1, 7, 2, c), `{"id":1},{"id":2}`+snapshotSuffix...)
	var s struct {
		Type    string            `json:"type"`
		Seq     int               `json:"seq"`
		Tickets []json.RawMessage `json:"tickets"`
	}
	if err := json.Unmarshal(snap, &s); err != nil || s.Seq != 7 || len(s.Tickets) != 2 {
		t.Fatalf("snapshot message %s: %+v, %v", snap, s, err)
	}
}

func FuzzClientMessage(f *testing.F) {
	f.Add([]byte(`{"type":"subscribe","query":"status=open&team=billing&limit=10"}`))
	f.Add([]byte(`{"type":"subscribe","query":"cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAB"}`))
	f.Add([]byte(`[[[[[[[[`))
	f.Add([]byte("{\"type\":\"subscribe\",\"query\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, q, err := ParseClientMessage(data)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("ParseClientMessage failed with %v, not EInvalid", err)
			}
			return
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("accepted a message whose query is invalid: %v", err)
		}
	})
}
