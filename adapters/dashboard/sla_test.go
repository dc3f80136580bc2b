package dashboard_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/dashboard"
	"github.com/ticketstream/ticketstream/domain"
)

func TestParseSLA_ReadsTargetsAndKeepsDefaultsForTheRest(t *testing.T) {
	t.Parallel()
	sla, err := dashboard.ParseSLA(" urgent=30m/2h , low=1w/2w")
	if err != nil {
		t.Fatal(err)
	}
	want := dashboard.DefaultSLA()
	want[domain.PriorityUrgent] = dashboard.Target{FirstResponse: 30 * time.Minute, Resolution: 2 * time.Hour}
	want[domain.PriorityLow] = dashboard.Target{FirstResponse: 7 * 24 * time.Hour, Resolution: 14 * 24 * time.Hour}
	if sla.String() != want.String() {
		t.Fatalf("got %s, want %s", sla, want)
	}
	if again, err := dashboard.ParseSLA(sla.String()); err != nil || again.String() != sla.String() {
		t.Fatalf("String does not parse back: %v %v", again, err)
	}
	if d, err := dashboard.ParseSLA(""); err != nil || d.String() != dashboard.DefaultSLA().String() {
		t.Fatalf("empty: %v %v", d, err)
	}
}

func TestParseSLA_RefusesBadValuesNamingTheSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"critical=1h/4h", `unknown priority "critical"`},
		{"urgent", "priority=first/resolution"},
		{"urgent=1h", "two targets"},
		{"urgent=1h/4", "urgent resolution"},
		{"urgent=0h/4h", "between 1 and 10000"},
		{"urgent=-1h/4h", "urgent first response"},
		{"urgent=1s/4h", "urgent first response"},
		{"urgent=5h/4h", "must not be due after the resolution"},
		{"urgent=1h/4h,urgent=1h/5h", "twice"},
	} {
		_, err := dashboard.ParseSLA(tc.in)
		var derr *domain.Error
		if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != "sla" || !strings.Contains(derr.Message, tc.want) {
			t.Errorf("ParseSLA(%q) = %v, want an invalid sla error mentioning %q", tc.in, err, tc.want)
		}
	}
}

func TestHandler_ServesTheSLAToThePage(t *testing.T) {
	t.Parallel()
	sla, err := dashboard.ParseSLA("urgent=15m/1h")
	if err != nil {
		t.Fatal(err)
	}
	h, err := dashboard.New(dashboard.Config{SLA: sla})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := serve(t, h, "GET", dashboard.SettingsPath, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %d %s", dashboard.SettingsPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got struct {
		SLA map[string]struct {
			FirstResponse int64 `json:"first_response_s"`
			Resolution    int64 `json:"resolution_s"`
		} `json:"sla"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if u := got.SLA["urgent"]; u.FirstResponse != 900 || u.Resolution != 3600 || got.SLA["low"].Resolution != 7*86400 {
		t.Fatalf("settings %s", body)
	}
	if _, err := dashboard.New(dashboard.Config{SLA: dashboard.SLA{domain.PriorityUrgent: {}}}); err == nil {
		t.Fatal("New took an invalid SLA")
	}
}
