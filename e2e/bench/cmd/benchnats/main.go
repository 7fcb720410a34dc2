// Command benchnats runs jetmail's embedded NATS server (package embedded,
// the one `jetmail dev` runs) as a process of its own, so that the
// benchmarks can read its memory apart from the node's and from the test's.
//
//	benchnats -dir DIR -listen 127.0.0.1:4222 [-pprof 127.0.0.1:6061]
//
// It prints "ready" once the server accepts connections. On SIGUSR1 it
// collects garbage and returns freed memory to the OS, then prints
// "gc <heap in use, bytes>", so that a resident set read afterwards is
// what the server holds rather than what its collector has not yet given
// back. SIGTERM or SIGINT stops it.
package main

import (
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/jetmail/jetmail/shared/embedded"
)

func main() {
	dir := flag.String("dir", "", "data directory (JetStream files in DIR/jetstream)")
	listen := flag.String("listen", "127.0.0.1:4222", "client address")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, "benchnats: pprof:", http.ListenAndServe(*pprofAddr, nil)) }()
	}
	srv, err := embedded.Start(embedded.Options{DataDir: *dir, Listen: *listen})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchnats:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, os.Interrupt)
	for sig := range sigs {
		if sig != syscall.SIGUSR1 {
			break
		}
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Println("gc", ms.HeapInuse)
	}
	srv.Stop()
}
