package domain

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseQuery_Search(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    string // the folded search; "" with wantErr
		wantErr string
	}{
		{"q=refund", "refund", ""},
		{"q=Refund%20REQUEST", "refund request", ""},
		{"q=%C3%89cole", "École", ""}, // only A-Z fold
		{"q=", "", ""},
		{"q=a&q=b", "", "give it once"},
		{"q=" + strings.Repeat("x", MaxSearchLen+1), "", "at most 100 bytes"},
		{"q=%01", "", "control characters"},
		{"q=%FF", "", "valid UTF-8"},
		{"q=%00", "", "NUL"},
	} {
		values, err := ParseQueryString(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuery(values, nil)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ErrorCode(err) != EInvalid {
				t.Errorf("%s: err %v, want %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil || q.Search != tc.want {
			t.Errorf("%s: search %q, err %v; want %q", tc.raw, q.Search, err, tc.want)
			continue
		}
		back, err := ParseQuery(q.Values(), nil)
		if err != nil || back.Search != q.Search {
			t.Errorf("%s: Values %q reads back as %q (%v)", tc.raw, q.Values().Encode(), back.Search, err)
		}
	}
}

func TestMatchesFilter_Search(t *testing.T) {
	tk := Ticket{Subject: "Please REFUND order #12 — Überweisung", Requester: "Ana.Lopez@Example.com", Status: StatusOpen}
	for _, tc := range []struct {
		search string
		want   bool
	}{
		{"", true},
		{"refund", true},
		{"please refund order", true},
		{"#12 — ü", false}, // Ü and ü are different characters to a search
		{"#12 — über", false},
		{"#12 — Über", true}, // Ü is not A-Z: it matches only itself
		{"überweisung", false},
		{"ana.lopez@example", true}, // the requester
		{"lopez@example.co", true},
		{"refunds", false},
		{"qq", false},
	} {
		q := Query{Search: FoldSearch(tc.search)}
		if got := q.MatchesFilter(&tk); got != tc.want {
			t.Errorf("search %q: %v, want %v", tc.search, got, tc.want)
		}
	}
	if q := (Query{Search: "berweisung"}); !q.MatchesFilter(&tk) {
		t.Error("a search of non-ASCII text's tail does not match")
	}
	if q := (Query{Search: "refund", Statuses: []Status{StatusClosed}}); q.MatchesFilter(&tk) {
		t.Error("a matching search passes a ticket another filter refuses")
	}
}

func TestFilterHash_SearchIsCanonical(t *testing.T) {
	parse := func(raw string) Query {
		values, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuery(values, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	if FilterHash(parse("q=Refund&status=open")) != FilterHash(parse("status=open&q=refund")) {
		t.Error("the same search in other case has another filter identity")
	}
	if FilterHash(parse("q=refund")) == FilterHash(parse("q=refunds")) || FilterHash(parse("q=refund")) == FilterHash(parse("")) {
		t.Error("different searches share a filter identity")
	}
}

// FuzzContainsFolded checks the allocation-free search against the plain
// definition: fold both, then strings.Contains.
func FuzzContainsFolded(f *testing.F) {
	f.Add("Please REFUND order", "refund")
	f.Add("ÉCOLE école", "école")
	f.Add("aaab", "aab")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, needle string) {
		needle = FoldSearch(needle)
		want := strings.Contains(FoldSearch(s), needle)
		if got := containsFolded(s, needle); got != want {
			t.Fatalf("containsFolded(%q, %q) = %v, want %v", s, needle, got, want)
		}
	})
}

// The live matcher runs for every change and every searching dashboard
// under the hub's lock: a crafted subject and search must not cost it the
// product of their lengths. Counted in allocations, not time: none for a
// ticket's subject and requester.
func TestContainsFolded_AllocatesNothing(t *testing.T) {
	subject := strings.Repeat("a", MaxSubjectLen-1) + "b"
	needle := strings.Repeat("a", MaxSearchLen-1) + "c"
	if n := testing.AllocsPerRun(100, func() { containsFolded(subject, needle) }); n != 0 {
		t.Fatalf("%v allocations per search of a subject", n)
	}
}

func BenchmarkContainsFolded_Crafted(b *testing.B) {
	subject := strings.Repeat("a", MaxSubjectLen-1) + "b"
	needle := strings.Repeat("a", MaxSearchLen-1) + "c"
	for b.Loop() {
		containsFolded(subject, needle)
	}
}
