package gormstore

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

// TestSortSQL_RanksAreTheDomainsAndTheIndexes checks the rank expressions
// against domain.PriorityRank and domain.StatusRank, and that both sort
// migrations index them to the letter, as the planners need to match them.
func TestSortSQL_RanksAreTheDomainsAndTheIndexes(t *testing.T) {
	for _, p := range domain.Priorities {
		for _, c := range []struct {
			expr string
			desc bool
		}{{priorityRankSQL, false}, {priorityUrgencySQL, true}} {
			rank := rankArg(domain.PriorityRank(p), len(domain.Priorities), c.desc)
			if want := fmt.Sprintf("WHEN '%s' THEN %d ", p, rank); !strings.Contains(c.expr, want) {
				t.Errorf("%s lacks %q", c.expr, want)
			}
		}
	}
	for _, s := range domain.Statuses {
		for _, c := range []struct {
			expr string
			desc bool
		}{{statusRankSQL, false}, {statusReversedSQL, true}} {
			rank := rankArg(domain.StatusRank(s), len(domain.Statuses), c.desc)
			if want := fmt.Sprintf("WHEN '%s' THEN %d ", s, rank); !strings.Contains(c.expr, want) {
				t.Errorf("%s lacks %q", c.expr, want)
			}
		}
	}
	for _, file := range []string{"migrations/postgres/00009_sort_indexes.sql", "migrations/sqlite/00007_sort_indexes.sql"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, expr := range []string{priorityUrgencySQL, statusRankSQL} {
			if !strings.Contains(string(text), expr) {
				t.Errorf("%s does not index %s", file, expr)
			}
		}
	}
}
