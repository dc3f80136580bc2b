package process

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/e2e"
)

// BenchmarkFeedScaleOut measures what reading the change feed costs
// PostgreSQL as replicas are added: 1, 4 and 16 server processes on one
// database, idle and while a writer commits 100 one-row changes a second.
// It reports the CPU of the replicas' PostgreSQL sessions (read from /proc
// of each backend) as a share of one core, in all and per replica, and the
// replicas' own. Run it once:
//
//	go test -run '^$' -bench FeedScaleOut -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkFeedScaleOut(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			for range b.N {
				measureScaleOut(b, n)
			}
		})
	}
}

func measureScaleOut(b *testing.B, replicas int) {
	ctx := context.Background()
	db := pgtest.NewDatabase(b)
	var procs []*e2e.Process
	for i := range replicas {
		demo := "0"
		if i == 0 {
			demo = "1000"
		}
		procs = append(procs, e2e.StartProcess(b, "--database", db, "--demo-tickets", demo))
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	time.Sleep(2 * time.Second) // settle after start
	const window = 10 * time.Second
	measure := func(write bool) (pgShare, serverShare float64, changes int) {
		pids := feedBackends(b, conn)
		pgBefore, serverBefore := sumCPU(pids), serverCPU(b, procs)
		start := time.Now()
		if write {
			rng := rand.New(rand.NewPCG(1, 2))
			tick := time.NewTicker(10 * time.Millisecond)
			for time.Since(start) < window {
				<-tick.C
				if _, err := conn.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2`,
					fmt.Sprintf("scale-out %d", changes), 1+rng.IntN(1000)); err != nil {
					b.Fatal(err)
				}
				changes++
			}
			tick.Stop()
		} else {
			time.Sleep(window)
		}
		elapsed := time.Since(start)
		pg := sumCPU(pids) - pgBefore
		server := serverCPU(b, procs) - serverBefore
		return pg.Seconds() / elapsed.Seconds(), server.Seconds() / elapsed.Seconds(), changes
	}
	idlePG, idleServer, _ := measure(false)
	busyPG, busyServer, changes := measure(true)
	b.ReportMetric(100*idlePG, "idle-pg-%core")
	b.ReportMetric(100*busyPG, "busy-pg-%core")
	b.Logf("%d replicas: PostgreSQL CPU for the feed idle %.1f%% of a core (%.2f%% per replica), at %d changes/s %.1f%% (%.2f%% per replica); the replicas' own CPU idle %.1f%%, busy %.1f%% of a core",
		replicas, 100*idlePG, 100*idlePG/float64(replicas), changes/int(window.Seconds()), 100*busyPG, 100*busyPG/float64(replicas), 100*idleServer, 100*busyServer)
}

// feedBackends lists the PostgreSQL backends of the server processes.
func feedBackends(b *testing.B, conn *pgx.Conn) []int {
	b.Helper()
	rows, err := conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ticketstream'`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}

// sumCPU adds the CPU time of the processes still there.
func sumCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if t, ok := procCPU(pid); ok {
			total += t
		}
	}
	return total
}

// serverCPU adds the CPU time of the server processes.
func serverCPU(b *testing.B, procs []*e2e.Process) time.Duration {
	var total time.Duration
	for _, p := range procs {
		total += cpuTime(b, p.Pid())
	}
	return total
}
