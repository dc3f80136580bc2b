package wsgateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
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
		_, sub, err := ParseClientMessage([]byte(tc.in), testSealer(t))
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

func testSealer(t testing.TB) *domain.CursorSealer {
	t.Helper()
	s, err := domain.NewCursorSealer([]byte("message tests' key, 16+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSubscription_TakesALiveCursorToResume(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	lc := domain.LiveCursor{Filter: 7, Cluster: 3, Watermark: domain.ChangePos{Xmax: 10, Seq: 10, ID: 3}, Live: domain.ChangePos{Xmax: 12, Seq: 12, ID: 1}}
	sub, err := ParseSubscription(map[string][]string{"status": {"open"}, "cursor": {sealer.LiveCursorString(lc)}}, sealer)
	if err != nil || sub.Resume == nil || !sameResume(*sub.Resume, lc) || sub.Refused != "" || len(sub.Query.Statuses) != 1 || !sub.Query.After.IsZero() {
		t.Fatalf("ParseSubscription = %+v, %v", sub, err)
	}
	bad := sealer.LiveCursorString(lc)
	bad = bad[:10] + "!" + bad[11:]
	if _, err := ParseSubscription(map[string][]string{"cursor": {bad}}, sealer); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a live cursor that is not base64 gave %v, want EInvalid", err)
	}
	if _, err := ParseSubscription(map[string][]string{"cursor": {"garbage"}}, sealer); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a cursor of garbage gave %v, want EInvalid", err)
	}
}

// A cursor of the right shape that does not open is never obeyed, and the
// subscription says why it starts afresh: the socket then resyncs.
func TestParseSubscription_RefusesForgedCursorsWithoutFailing(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	other, _ := domain.NewCursorSealer([]byte("another deployment's key, 16+"))
	lc := domain.LiveCursor{Filter: 7, Cluster: 3, Watermark: domain.ChangePos{Xmax: 10}, Live: domain.ChangePos{Xmax: 12, Seq: 12, ID: 1}}
	snap := domain.Cursor{UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ID: 42}
	// One bit of its binary form flipped: altered as text, the character
	// at a given place — a random one, with the cursor's nonce — could
	// become one that is not base64, a malformed cursor, not a forged one.
	raw, err := base64.RawURLEncoding.DecodeString(sealer.LiveCursorString(lc))
	if err != nil {
		t.Fatal(err)
	}
	raw[15] ^= 0x10
	altered := base64.RawURLEncoding.EncodeToString(raw)
	for name, cursor := range map[string]string{
		"altered live":   altered,
		"other key live": other.LiveCursorString(lc),
		"other key snap": other.CursorString(snap),
		"old version":    oldLiveCursorForTest(),
		"unsealed snap":  "AQAAAABn9gMFAAAAAAAAAAAAAAAq",
	} {
		sub, err := ParseSubscription(map[string][]string{"status": {"open"}, "cursor": {cursor}}, sealer)
		if err != nil || sub.Resume != nil || sub.Refused == "" || !sub.Query.After.IsZero() || len(sub.Query.Statuses) != 1 {
			t.Errorf("%s: ParseSubscription = %+v, %v; want a fresh subscription that says why", name, sub, err)
		}
	}
}

// oldLiveCursorForTest is a live cursor of the version before cursors were
// sealed: 58 bytes, version 2.
func oldLiveCursorForTest() string {
	b := make([]byte, 58)
	b[0] = 2
	b[25] = 1 // any filter, position 0
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestServerMessagesAreValidJSON(t *testing.T) {
	t.Parallel()
	c := sealedCursor{LiveCursor: domain.LiveCursor{Snapshot: domain.Cursor{UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ID: 42}, Live: domain.ChangePos{Xmax: 5, Seq: 5, ID: 1}}, sealer: testSealer(t)}
	var end struct {
		Type   string `json:"type"`
		Sub    int    `json:"sub"`
		Rows   int    `json:"rows"`
		Cursor string `json:"cursor"`
	}
	if err := json.Unmarshal(endMessage(nil, 3, 120, 2, c, fixedCounts{json: `{"total":0,"status":{},"team":{}}`}), &end); err != nil || !c.holds(end.Cursor) || end.Rows != 120 || end.Sub != 3 {
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
	if err := json.Unmarshal(changes, &ch); err != nil || ch.Type != "changes" || !c.holds(ch.Cursor) || len(ch.Changes) != 1 {
		t.Fatalf("changes message %s: %+v, %v", changes, ch, err)
	}
	if ch.Counts.Total != 1 || ch.Counts.Status["open"] != 1 || ch.Counts.Team["bill<ing"] != 1 {
		t.Fatalf("changes message counts %+v: %s", ch.Counts, changes)
	}
	var rs struct{ Type, Reason, Cursor string }
	if err := json.Unmarshal(resyncMessage(1, "a \"quoted\" reason", c), &rs); err != nil || rs.Type != "resync" || !c.holds(rs.Cursor) {
		t.Fatalf("resync message: %+v, %v", rs, err)
	}
}

func FuzzClientMessage(f *testing.F) {
	f.Add([]byte(`{"type":"subscribe","query":"status=open&team=billing&limit=10"}`))
	f.Add([]byte(`{"type":"subscribe","query":"cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAB"}`))
	f.Add([]byte(`[[[[[[[[`))
	sealer := testSealer(f)
	f.Add([]byte(`{"type":"subscribe","query":"team=billing&cursor=` + sealer.LiveCursorString(domain.LiveCursor{Filter: 1, Live: domain.ChangePos{Xmax: 9, Seq: 9, ID: 2}}) + `"}`))
	f.Add([]byte(`{"type":"subscribe","query":"team=billing&cursor=` + sealer.CursorString(domain.Cursor{UpdatedAt: time.Unix(1700000000, 0), ID: 3}) + `"}`))
	f.Add([]byte(`{"type":"subscribe","query":"cursor=` + oldLiveCursorForTest() + `"}`))
	f.Add([]byte("{\"type\":\"subscribe\",\"query\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sub, err := ParseClientMessage(data, sealer)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("ParseClientMessage failed with %v, not EInvalid", err)
			}
			return
		}
		if sub.Resume != nil && sub.Refused != "" {
			t.Fatalf("both resumed and refused: %+v", sub)
		}
		if sub.Resume != nil && len(sub.Resume.Live.Pending) > domain.CursorPendingMax {
			t.Fatalf("accepted a live cursor with more pending transactions than a server seals: %+v", sub.Resume)
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
func (f fixedCounts) CountsKnown() bool                      { return true }

// sameResume compares live cursors field by field: positions hold slices.
func sameResume(a, b domain.LiveCursor) bool {
	return a.Filter == b.Filter && a.Cluster == b.Cluster && a.Snapshot == b.Snapshot && a.SnapshotDone == b.SnapshotDone &&
		a.Start == b.Start && a.Read == b.Read && a.Watermark.Equal(b.Watermark) && a.Live.Equal(b.Live)
}

// holds reports whether text is c sealed: each sealing gives another text
// (a nonce), so what it opens to is compared.
func (c sealedCursor) holds(text string) bool {
	got, err := c.sealer.OpenLiveCursor(text)
	return err == nil && reflect.DeepEqual(got, c.sealed())
}
