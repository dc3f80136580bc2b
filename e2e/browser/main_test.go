package browser

import (
	"testing"

	"github.com/ticketstream/ticketstream/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
