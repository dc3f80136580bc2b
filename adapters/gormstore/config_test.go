package gormstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestConfig_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: DefaultURL, StatementTimeout: DefaultStatementTimeout, ConnectTimeout: DefaultConnectTimeout}
	if got != want {
		t.Fatalf("zero config = %+v, want %+v", got, want)
	}
}

func TestConfig_ValidateNamesTheNegativeSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Config
		param string
	}{
		{Config{MaxOpenConns: -1}, "db-max-conns"},
		{Config{StatementTimeout: -time.Second}, "db-statement-timeout"},
		{Config{ConnectTimeout: -time.Second}, "db-connect-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.param, func(t *testing.T) {
			tc.cfg.URL = "sqlite::memory:"
			_, _, err := Open(context.Background(), tc.cfg, nil)
			for _, err := range []error{tc.cfg.Validate(), err} {
				var derr *domain.Error
				if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
					t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
				}
			}
		})
	}
}
