// Package bench holds jetmail's benchmarks: `make bench` runs them and
// prints each figure next to its peers measured on the same machine in the
// same run: raw JetStream (nats bench) on the same server, river on
// PostgreSQL for tasks, Postfix and maddy for relaying. It holds no tests,
// so `make test` only compiles it. The benchmarks print figures; they never
// gate on time.
package bench
