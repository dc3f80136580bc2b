package domain_test

import (
	"reflect"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

func TestScope_Restrict(t *testing.T) {
	t.Parallel()
	billing := domain.Scope{Teams: []string{"billing", "accounts"}}
	tests := []struct {
		name      string
		scope     domain.Scope
		q         domain.Query
		wantTeams []string
		wantCode  domain.Code
	}{
		{"all teams keeps the query", domain.Scope{AllTeams: true}, domain.Query{Teams: []string{"x"}}, []string{"x"}, ""},
		{"no team filter gets the scope's teams", billing, domain.Query{Limit: 5}, []string{"billing", "accounts"}, ""},
		{"a permitted team", billing, domain.Query{Teams: []string{"accounts"}}, []string{"accounts"}, ""},
		{"a team outside the scope", billing, domain.Query{Teams: []string{"billing", "support"}}, nil, domain.EForbidden},
		{"an empty scope", domain.Scope{}, domain.Query{}, nil, domain.EForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.scope.Restrict(tc.q)
			if domain.ErrorCode(err) != tc.wantCode {
				t.Fatalf("Restrict = %v, want code %q", err, tc.wantCode)
			}
			if err == nil && !reflect.DeepEqual(got.Teams, tc.wantTeams) {
				t.Fatalf("teams %v, want %v", got.Teams, tc.wantTeams)
			}
			if err == nil && got.Limit != tc.q.Limit {
				t.Fatal("Restrict changed more than the teams")
			}
		})
	}
	if billing.Allows("support") || !billing.Allows("billing") || !(domain.Scope{AllTeams: true}).Allows("x") {
		t.Fatal("Allows disagrees with the scope")
	}
}
