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
		_, sub, err := ParseClientMessage([]byte(tc.in))
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
		if err := sub.Query.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseSubscription_TakesALiveCursorToResume(t *testing.T) {
	t.Parallel()
	lc := domain.LiveCursor{Filter: 7, Watermark: domain.ChangePos{Seq: 10, ID: 3}, Live: domain.ChangePos{Seq: 12, ID: 1}}
	sub, err := ParseSubscription(map[string][]string{"status": {"open"}, "cursor": {lc.String()}})
	if err != nil || sub.Resume == nil || *sub.Resume != lc || len(sub.Query.Statuses) != 1 || !sub.Query.After.IsZero() {
		t.Fatalf("ParseSubscription = %+v, %v", sub, err)
	}
	bad := lc.String()
	bad = bad[:10] + "!" + bad[11:]
	if _, err := ParseSubscription(map[string][]string{"cursor": {bad}}); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a damaged live cursor gave %v, want EInvalid", err)
	}
}

func TestServerMessagesAreValidJSON(t *testing.T) {
	t.Parallel()
	c := domain.LiveCursor{Snapshot: domain.Cursor{UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ID: 42}, Live: domain.ChangePos{Seq: 5, ID: 1}}
	var end struct {
		Type   string `json:"type"`
		Sub    int    `json:"sub"`
		Rows   int    `json:"rows"`
		Cursor string `json:"cursor"`
	}
	if err := json.Unmarshal(endMessage(nil, 3, 120, 2, c, fixedCounts{json: `{"total":0,"status":{},"team":{}}`}), &end); err != nil || end.Cursor != c.String() || end.Rows != 120 || end.Sub != 3 {
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
	counted := fixedCounts{json: `{"total":1,"status":{"open":1},"team":{"bill\u003cing":1}}`, changed: true}
	changes := append(changesPrefix(nil, 2, c, counted), `{"op":"remove","id":1}`+snapshotSuffix...)
	var ch struct {
		Type    string            `json:"type"`
		Cursor  string            `json:"cursor"`
		Changes []json.RawMessage `json:"changes"`
		Counts  struct {
			Total  int
			Status map[string]int
			Team   map[string]int
		}
	}
	if err := json.Unmarshal(changes, &ch); err != nil || ch.Type != "changes" || ch.Cursor != c.String() || len(ch.Changes) != 1 {
		t.Fatalf("changes message %s: %+v, %v", changes, ch, err)
	}
	if ch.Counts.Total != 1 || ch.Counts.Status["open"] != 1 || ch.Counts.Team["bill<ing"] != 1 {
		t.Fatalf("changes message counts %+v: %s", ch.Counts, changes)
	}
	var rs struct{ Type, Reason, Cursor string }
	if err := json.Unmarshal(resyncMessage(1, "a \"quoted\" reason", c), &rs); err != nil || rs.Type != "resync" || rs.Cursor != c.String() {
		t.Fatalf("resync message: %+v, %v", rs, err)
	}
}

func FuzzClientMessage(f *testing.F) {
	f.Add([]byte(`{"type":"subscribe","query":"status=open&team=billing&limit=10"}`))
	f.Add([]byte(`{"type":"subscribe","query":"cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAB"}`))
	f.Add([]byte(`[[[[[[[[`))
	f.Add([]byte(`{"type":"subscribe","query":"team=billing&cursor=` + domain.LiveCursor{Filter: 1, Live: domain.ChangePos{Seq: 9, ID: 2}}.String() + `"}`))
	f.Add([]byte("{\"type\":\"subscribe\",\"query\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sub, err := ParseClientMessage(data)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("ParseClientMessage failed with %v, not EInvalid", err)
			}
			return
		}
		if sub.Resume != nil && sub.Resume.Live.Compare(sub.Resume.Watermark) < 0 {
			t.Fatalf("accepted a live cursor whose live position is before its watermark: %+v", sub.Resume)
		}
		if err := sub.Query.Validate(); err != nil {
			t.Fatalf("accepted a message whose query is invalid: %v", err)
		}
	})
}

// fixedCounts is a countsWriter that writes what it was given.
type fixedCounts struct {
	json    string
	changed bool
}

func (f fixedCounts) AppendCounts(dst []byte, _ bool) []byte { return append(dst, f.json...) }
func (f fixedCounts) CountsChanged() bool                    { return f.changed }
