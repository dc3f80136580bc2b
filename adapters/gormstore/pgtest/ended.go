package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Ended returns those of the transactions xids (server-wide ids, as in a
// position's pending list) that have ended — committed or rolled back —
// asking the server at url. Tests whose positions pick up other tests'
// transactions, in databases of their own, use it to tell a refusal
// those explain from one the code under test makes.
func Ended(t testing.TB, url string, xids []uint64) []uint64 {
	t.Helper()
	if len(xids) == 0 {
		return nil
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(ctx)
	ids := make([]int64, len(xids))
	for i, x := range xids {
		ids[i] = int64(x)
	}
	rows, err := c.Query(ctx, `SELECT x FROM unnest($1::bigint[]) AS x WHERE pg_xact_status(x::text::xid8) IS DISTINCT FROM 'in progress'`, ids)
	if err != nil {
		t.Fatalf("pgtest: transaction status: %v", err)
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatalf("pgtest: transaction status: %v", err)
	}
	out := make([]uint64, len(ended))
	for i, x := range ended {
		out[i] = uint64(x)
	}
	return out
}
