package ticketstream

import (
	"errors"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// A feed read is given up as hung only past the database's statement
// timeout, which stops a slow page on a database that answers: a longer
// --db-statement-timeout must not make every slow read fail and retry
// for ever.
func TestProvideHubConfig_ReadTimeoutOutlastsTheStatementTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		statement time.Duration
		live      app.HubConfig
		want      time.Duration
	}{
		// A page runs four statements that may each wait the statement
		// timeout (attack 54 held two locks of 17 and 33 s in one page,
		// each under a 20 s statement timeout).
		{"defaults", 0, app.HubConfig{}, 4*30*time.Second + 5*time.Second},
		{"a longer statement timeout", 2 * time.Minute, app.HubConfig{}, 8*time.Minute + 5*time.Second},
		{"a long stall warning", 0, app.HubConfig{StallWarning: 3 * time.Minute}, 9 * time.Minute},
		{"a short statement timeout", time.Second, app.HubConfig{}, 30 * time.Second},
		{"set", 2 * time.Minute, app.HubConfig{ReadTimeout: 10 * time.Second}, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := provideHubConfig(Config{Database: gormstore.Config{StatementTimeout: tc.statement}, Live: tc.live})
			if err != nil || got.ReadTimeout != tc.want {
				t.Fatalf("ReadTimeout = %s, %v; want %s", got.ReadTimeout, err, tc.want)
			}
		})
	}
}

// A server built without Config.Validate — InitializeServer called by a
// program of its own, or a test — is refused a poll interval that would
// fail readiness between reads on time, as the command line is.
func TestProvideHubConfig_RefusesAPollThatWouldFailReadiness(t *testing.T) {
	t.Parallel()
	cfg := Config{Live: app.HubConfig{PollInterval: 20 * time.Second, StallWarning: time.Minute}} // readiness: 30 s by default
	_, err := provideHubConfig(cfg)
	var derr *domain.Error
	if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != "poll-interval" {
		t.Fatalf("err = %v, want EInvalid naming poll-interval", err)
	}
	cfg.Server.REST.FeedStaleAfter = 40 * time.Second
	if _, err := provideHubConfig(cfg); err != nil {
		t.Fatalf("with readiness at twice the poll interval: %v", err)
	}
}
