package domain_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func mustSort(t testing.TB, s string) domain.Sort {
	t.Helper()
	sort, err := domain.ParseSort(s)
	if err != nil {
		t.Fatal(err)
	}
	return sort
}

// sortKeyFixture is a key with every field set, as a delivered row has.
func sortKeyFixture() domain.RowKey {
	return domain.RowKey{Priority: domain.PriorityUrgent, Status: domain.StatusOnHold,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), UpdatedAt: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC),
		Team: "Billing É", Assignee: "", ID: 4711}
}

// keep returns k with only the fields of sort and the id: what a sorted
// cursor records.
func keep(sort domain.Sort, k domain.RowKey) domain.RowKey {
	out := domain.RowKey{ID: k.ID}
	for _, key := range sort {
		switch key.Field {
		case domain.SortPriority:
			out.Priority = k.Priority
		case domain.SortStatus:
			out.Status = k.Status
		case domain.SortCreatedAt:
			out.CreatedAt = k.CreatedAt
		case domain.SortUpdatedAt:
			out.UpdatedAt = k.UpdatedAt
		case domain.SortTeam:
			out.Team = k.Team
		case domain.SortAssignee:
			out.Assignee = k.Assignee
		}
	}
	return out
}

func TestSortCursor_RoundTripsTheSortsKey(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "the server's key, shared by replicas")
	long := sortKeyFixture()
	long.Team, long.Assignee = strings.Repeat("t", 300), "ann@example.com"
	for _, text := range []string{"priority", "-priority,created_at", "status,-team,assignee", "-updated_at",
		"team,assignee,status,-updated_at,created_at,priority"} {
		sort := mustSort(t, text)
		for _, k := range []domain.RowKey{sortKeyFixture(), long} {
			c := sealer.SortCursorString(sort, &k)
			got, err := sealer.OpenSortCursor(c, sort)
			if err != nil {
				t.Fatalf("sort=%s: OpenSortCursor: %v", text, err)
			}
			if want := keep(sort, k); got != want {
				t.Fatalf("sort=%s: key %+v, want %+v", text, got, want)
			}
			if sort.Compare(&got, &k) != 0 {
				t.Fatalf("sort=%s: the opened key is not at the row's place", text)
			}
		}
	}
	if c := sealer.SortCursorString(nil, &long); c != "" {
		t.Fatalf("the default sort has a sorted cursor: %q", c)
	}
}

// A sorted cursor resumes only the sort it was issued for: another sort,
// the default order, an altered or forged cursor are refused, each with a
// message that says what to do.
func TestSortCursor_RefusesOtherSortsAndForgeries(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "the server's key, shared by replicas")
	other := testSealer(t, "another deployment's key, 32 bytes")
	k := sortKeyFixture()
	sort := mustSort(t, "-priority,created_at")
	valid := sealer.SortCursorString(sort, &k)
	flipped := []byte(valid)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == '-'^1 || flipped[len(flipped)/2] == '_'^1 {
		flipped[len(flipped)/2] = 'A'
	}
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	// sealed bodies the sealer never writes
	craft := func(body []byte) string {
		return base64.RawURLEncoding.EncodeToString(append(body, domain.SealForTest(sealer, body)...))
	}
	body := raw[:len(raw)-16]
	rankOut := append([]byte(nil), body...)
	rankOut[4] = 9 // priority rank past urgent
	zeroID := append(append([]byte(nil), body[:len(body)-8]...), 0, 0, 0, 0, 0, 0, 0, 0)
	teamSort := mustSort(t, "team")
	teamBody := []byte{16, 1, byte(domain.SortTeam), 0x81, 0x00} // "" with an overlong varint length
	teamBody = binary.BigEndian.AppendUint64(teamBody, 5)

	for _, tc := range []struct {
		name, cursor string
		sort         domain.Sort
		want         string
	}{
		{"another sort", valid, mustSort(t, "priority,created_at"), "another sort"},
		{"fewer keys", valid, mustSort(t, "-priority"), "another sort"},
		{"default-order cursor", sealer.CursorString(domain.Cursor{UpdatedAt: k.UpdatedAt, ID: 3}), sort, "default order"},
		{"altered", string(flipped), sort, ""},
		{"other key", other.SortCursorString(sort, &k), sort, "not issued by this server"},
		{"truncated", valid[:len(valid)-4], sort, ""},
		{"appended", valid + "AAAA", sort, ""},
		{"rank out of range", craft(rankOut), sort, "malformed"},
		{"id zero", craft(zeroID), sort, "malformed"},
		{"overlong varint", craft(teamBody), teamSort, "malformed"},
		{"trailing bytes", craft(append(append([]byte(nil), body...), 0)), sort, "malformed"},
		{"not base64", "!!!", sort, "malformed"},
		{"huge", strings.Repeat("A", 9000), sort, "malformed"},
	} {
		_, err := sealer.OpenSortCursor(tc.cursor, tc.sort)
		var derr *domain.Error
		if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != domain.ParamCursor || !strings.Contains(derr.Message, tc.want) {
			t.Errorf("%s: %v, want an EInvalid cursor error saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := sealer.OpenCursor(valid); err == nil || !strings.Contains(err.Error(), "sorted page") {
		t.Errorf("OpenCursor of a sorted cursor: %v, want a refusal naming the sorted page", err)
	}
}

func TestParseQuery_OpensASortedCursorForItsSort(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "the server's key, shared by replicas")
	k := sortKeyFixture()
	sort := mustSort(t, "-priority,created_at")
	sorted := sealer.SortCursorString(sort, &k)
	plain := sealer.CursorString(domain.Cursor{UpdatedAt: k.UpdatedAt, ID: k.ID})

	q, err := domain.ParseQuery(url.Values{"sort": {"-priority,created_at"}, "cursor": {sorted}}, sealer)
	if want := keep(sort, k); err != nil || q.AfterKey == nil || *q.AfterKey != want || !q.After.IsZero() {
		t.Fatalf("ParseQuery = %+v, %v; want AfterKey %+v", q, err, want)
	}
	if q, err := domain.ParseQuery(url.Values{"sort": {"-priority,created_at"}, "cursor": {""}}, sealer); err != nil || q.AfterKey != nil {
		t.Fatalf("an empty cursor: %+v, %v", q, err)
	}
	for name, v := range map[string]url.Values{
		"another sort":        {"sort": {"priority,created_at"}, "cursor": {sorted}},
		"no sort":             {"cursor": {sorted}},
		"the default, spelt":  {"sort": {"updated_at"}, "cursor": {sorted}},
		"a default cursor":    {"sort": {"-priority,created_at"}, "cursor": {plain}},
		"a window and cursor": {"sort": {"-priority,created_at"}, "window": {"5"}, "cursor": {sorted}},
	} {
		_, err := domain.ParseQuery(v, sealer)
		var derr *domain.Error
		if !errors.As(err, &derr) || derr.Code != domain.EInvalid || (derr.Param != domain.ParamCursor && derr.Param != domain.ParamWindow) {
			t.Errorf("%s: %v, want EInvalid naming the cursor", name, err)
		}
	}
}
