package domain

import (
	"slices"
	"time"
)

// Scope is what a caller may see, from their credentials: every team, or
// only the listed ones. The zero Scope sees nothing.
type Scope struct {
	AllTeams bool
	Teams    []string
	// Expires is when the credentials stop being valid; zero means never
	// (open access). A connection that outlives it is closed.
	Expires time.Time
}

// Restrict narrows q to the scope, so that the database itself returns only
// permitted tickets — rows are never read and then dropped. A query without a
// team filter gets the scope's teams; a query for teams outside the scope is
// an EForbidden error naming them, never a silently smaller result.
func (s Scope) Restrict(q Query) (Query, error) {
	if s.AllTeams {
		return q, nil
	}
	if len(s.Teams) == 0 {
		return Query{}, &Error{Code: EForbidden, Param: ParamTeam, Message: "these credentials may see no team"}
	}
	if len(q.Teams) == 0 {
		q.Teams = slices.Clone(s.Teams)
		return q, nil
	}
	for _, t := range q.Teams {
		if !slices.Contains(s.Teams, t) {
			return Query{}, &Error{Code: EForbidden, Param: ParamTeam, Message: "these credentials may not see team " + quote(t)}
		}
	}
	return q, nil
}

// Allows reports whether a ticket of the given team is within the scope.
func (s Scope) Allows(team string) bool {
	return s.AllTeams || slices.Contains(s.Teams, team)
}

func quote(s string) string { return "\"" + truncate(s, 64) + "\"" }
