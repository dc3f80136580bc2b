package app

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// assertSameAsJSON fails t unless AppendTicket and json.Marshal agree on tk:
// the same bytes, or both an error.
func assertSameAsJSON(t *testing.T, tk *domain.Ticket) {
	t.Helper()
	want, wantErr := json.Marshal(tk)
	prefix := []byte("prefix,")
	got, err := AppendTicket(bytes.Clone(prefix), tk)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendTicket error = %v, json.Marshal error = %v\nticket: %#v", err, wantErr, tk)
	}
	if err != nil {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("AppendTicket changed dst on error: %q", got)
		}
		return
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("AppendTicket lost dst's prefix: %q", got)
	}
	if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("AppendTicket differs from json.Marshal\n got: %s\nwant: %s", got, want)
	}
}

func TestAppendTicket_MatchesEncodingJSON_OnGeneratedTickets(t *testing.T) {
	t.Parallel()
	for _, tk := range demodata.New(7).Tickets(20000) {
		assertSameAsJSON(t, &tk)
	}
}

func TestAppendTicket_MatchesEncodingJSON_OnHostileValues(t *testing.T) {
	t.Parallel()
	base := demodata.New(1).Ticket()
	berlin := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name string
		edit func(*domain.Ticket)
	}{
		{"quotes and backslashes", func(tk *domain.Ticket) { tk.Subject = `say "hi" \ and \\ "` }},
		{"every control character", func(tk *domain.Ticket) {
			var b strings.Builder
			for c := range 0x20 {
				b.WriteByte(byte(c))
			}
			b.WriteByte(0x7f)
			tk.Subject = b.String()
		}},
		{"html characters", func(tk *domain.Ticket) { tk.Subject = "<script>alert('x')</script> & <b>" }},
		{"line and paragraph separators", func(tk *domain.Ticket) { tk.Subject = "a\u2028b\u2029c\u2027d\u202a" }},
		{"invalid utf-8", func(tk *domain.Ticket) { tk.Subject = "ok \xff\xfe bad \xc3 cut \xe2\x80 \xed\xa0\x80 surrogate" }},
		{"emoji and accents", func(tk *domain.Ticket) { tk.Subject = "Zoë's 🎫 ticket — naïve café 日本語" }},
		{"escape in every word position", func(tk *domain.Ticket) {
			for i := range 17 {
				tk.Subject = strings.Repeat("a", i) + "\"" + strings.Repeat("b", 16-i)
				tk.Requester = strings.Repeat("x", i) + "é" + strings.Repeat("y", 9)
			}
		}},
		{"hostile enums", func(tk *domain.Ticket) { tk.Status, tk.Priority = "op\"en", "<urgent>" }},
		{"empty strings", func(tk *domain.Ticket) { tk.Team, tk.Subject, tk.Requester, tk.Assignee = "", "", "", "" }},
		{"nil tags", func(tk *domain.Ticket) { tk.Tags = nil }},
		{"empty tags", func(tk *domain.Ticket) { tk.Tags = []string{} }},
		{"hostile tags", func(tk *domain.Ticket) { tk.Tags = []string{"", "\"", "a,b", "\u2028"} }},
		{"negative and huge ids", func(tk *domain.Ticket) { tk.ID = -1 << 63 }},
		{"zero time", func(tk *domain.Ticket) { tk.CreatedAt, tk.UpdatedAt = time.Time{}, time.Time{}.UTC() }},
		{"whole seconds", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"nanoseconds", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 120000789, time.UTC) }},
		{"one nanosecond", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 1, time.UTC) }},
		{"leap day", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC) }},
		{"year 0", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"before 1970", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC) }},
		{"year 9999", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) }},
		{"year 10000 fails", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year -1 fails", func(tk *domain.Ticket) { tk.CreatedAt = time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"non-UTC zone", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2025, 6, 1, 8, 0, 0, 500, berlin) }},
		{"local zone", func(tk *domain.Ticket) { tk.UpdatedAt = time.Date(2025, 6, 1, 8, 0, 0, 0, time.Local) }},
		{"zone offset of 24h fails", func(tk *domain.Ticket) {
			tk.UpdatedAt = time.Date(2025, 6, 1, 8, 0, 0, 0, time.FixedZone("X", 24*3600))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := base
			tk.Tags = append([]string(nil), base.Tags...)
			tc.edit(&tk)
			assertSameAsJSON(t, &tk)
		})
	}
}

func TestAppendTicket_MatchesEncodingJSON_OnRandomBytesAndTimes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "<", ">", "&", "\n", "\x00", "\x1f", "\x7f", "é", "\u2028", "\u2029", "🎫", "\xff", "\xe2\x80", "\xc3"}
	tk := demodata.New(2).Ticket()
	for range 20000 {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		tk.Subject = b.String()
		tk.UpdatedAt = time.Unix(r.Int64N(maxJSONUnix-minJSONUnix+1)+minJSONUnix, r.Int64N(1e9)).UTC()
		assertSameAsJSON(t, &tk)
	}
}

func TestAppendTicket_DoesNotAllocate(t *testing.T) {
	tickets := demodata.New(5).Tickets(100)
	dst := make([]byte, 0, 64*1024)
	allocs := testing.AllocsPerRun(100, func() {
		dst = dst[:0]
		for i := range tickets {
			dst, _ = AppendTicket(dst, &tickets[i])
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendTicket allocated %.1f times per 100 rows, want 0", allocs)
	}
}

func FuzzAppendTicket(f *testing.F) {
	f.Add("plain", "team", []byte("tag"), int64(1), int64(1700000000), uint32(0))
	f.Add("\"\\<>&\u2028\u2029\x00\x1f\x7f", "é", []byte{0xff, 0xfe}, int64(-5), int64(-62167219200), uint32(999999999))
	f.Add("🎫 \xed\xa0\x80 \xf4\x90\x80\x80", "", []byte("\xe2\x80"), int64(1<<62), int64(253402300799), uint32(1))
	f.Add("x", "y", []byte("z"), int64(0), int64(253402300800), uint32(5))
	f.Fuzz(func(t *testing.T, subject, team string, tag []byte, id, sec int64, nsec uint32) {
		tk := domain.Ticket{
			ID: id, Team: team, Subject: subject, Status: domain.Status(team), Priority: "high",
			Requester: subject + team, Assignee: string(tag), Tags: []string{string(tag), subject},
			CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(sec, int64(nsec%1e9)).UTC(),
		}
		assertSameAsJSON(t, &tk)
		if out, err := AppendTicket(nil, &tk); err == nil && !json.Valid(out) {
			t.Fatalf("AppendTicket produced invalid JSON: %q", out)
		}
	})
}
