// Command benchnode runs a jetmail node the way `jetmail serve scheduler`
// does (config file, external NATS, nats.connections connections, the
// task manager on every role the node holds), with one addition the
// binary does not have: a handler for IndexTrace tasks that reports each
// run to the benchmark. The benchmarks use it where they need tasks to
// run in a process of their own: lateness, restart, fail-over.
//
//	benchnode -config FILE [-work 0s] [-pprof 127.0.0.1:6060]
//
// Each run is reported on the core NATS subject jetmail-bench.runs, in
// batches of at most 100 ms: one JSON object with the node id and, per
// run, the task's trace id, the handler's start and end (Unix ns) and its
// due time (with -report-starts, also a report with no end as each run
// starts). The handler sleeps -work before it returns (a lease renewed
// meanwhile, as for real work). It prints "started" once the node is up.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// RunsSubject is where runs are reported.
const RunsSubject = "jetmail-bench.runs"

// run is one handler run (end 0: a start, reported with -report-starts).
type run struct {
	Trace string `json:"t"`
	Start int64  `json:"s"`
	End   int64  `json:"e"`
	Due   int64  `json:"d"`
}

// batch is what one report carries.
type batch struct {
	Node string `json:"node"`
	Runs []run  `json:"runs"`
}

// scheduler is the scheduler service's task manager with the bench's
// handlers (services/scheduler builds it with no handler for IndexTrace).
type scheduler struct {
	handlers *task.Handlers
	m        *taskmanager.Manager
}

func (s *scheduler) Name() string { return "scheduler" }

func (s *scheduler) Start(ctx context.Context, d node.Deps) error {
	s.m = taskmanager.New(taskmanager.Params{Deps: d, Handlers: s.handlers})
	return s.m.Start(ctx)
}

func (s *scheduler) Shutdown(ctx context.Context) error {
	if s.m == nil {
		return nil
	}
	return s.m.Shutdown(ctx)
}

// reporter batches runs onto RunsSubject.
type reporter struct {
	nc   *nats.Conn
	node string
	mu   sync.Mutex
	runs []run
}

func (r *reporter) add(one run) {
	r.mu.Lock()
	r.runs = append(r.runs, one)
	r.mu.Unlock()
}

func (r *reporter) flush() {
	r.mu.Lock()
	runs := r.runs
	r.runs = nil
	r.mu.Unlock()
	for len(runs) > 0 {
		n := min(len(runs), 10_000)
		data, _ := json.Marshal(batch{Node: r.node, Runs: runs[:n]})
		if err := r.nc.Publish(RunsSubject, data); err != nil {
			fmt.Fprintln(os.Stderr, "benchnode: report runs:", err)
		}
		runs = runs[n:]
	}
	_ = r.nc.Flush()
}

func main() {
	cfgPath := flag.String("config", "", "TOML configuration file (nats.url must be set)")
	workFor := flag.Duration("work", 0, "how long each IndexTrace handler works before it returns")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	starts := flag.Bool("report-starts", false, "also report each handler's start as it starts")
	flag.Parse()
	if err := serve(*cfgPath, *workFor, *pprofAddr, *starts); err != nil {
		fmt.Fprintln(os.Stderr, "benchnode:", err)
		os.Exit(1)
	}
}

func serve(cfgPath string, workFor time.Duration, pprofAddr string, starts bool) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, "benchnode: pprof:", http.ListenAndServe(pprofAddr, nil)) }()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	name := "jetmail node " + cfg.Cluster.NodeID
	nc, err := natsconn.Connect(cfg.NATS, name)
	if err != nil {
		return err
	}
	defer nc.Close()
	rnc, err := natsconn.Connect(cfg.NATS, "benchnode reports "+cfg.Cluster.NodeID)
	if err != nil {
		return err
	}
	defer rnc.Close()
	rep := &reporter{nc: rnc, node: cfg.Cluster.NodeID}

	h := task.NewHandlers()
	h.Handle(task.IndexTrace, func(ctx context.Context, t *task.Task) error {
		start := time.Now()
		trace := t.Payload.(*task.IndexTraceTask).TraceID
		if starts {
			rep.add(run{Trace: trace, Start: start.UnixNano(), Due: t.Status.Due.UnixNano()})
		}
		if workFor > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(workFor):
			}
		}
		rep.add(run{Trace: trace, Start: start.UnixNano(), End: time.Now().UnixNano(), Due: t.Status.Due.UnixNano()})
		return nil
	})
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Logger: log, Version: "bench",
		Dial:     func() (*nats.Conn, error) { return natsconn.Connect(cfg.NATS, name) },
		Services: []node.Service{&scheduler{handlers: h}}})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = n.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	fmt.Println("started")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			rep.flush()
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = n.Shutdown(sctx)
	rep.flush()
	return err
}
