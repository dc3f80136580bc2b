package process

import (
	"testing"

	"github.com/ticketstream/ticketstream/e2e"
)

func TestMain(m *testing.M) { e2e.MainWithBinary(m) }
