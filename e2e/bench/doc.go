// Package bench holds jetmail's benchmarks: `make bench` runs them and
// prints each figure next to the raw JetStream figure measured on the same
// server in the same run. They never gate CI on time.
package bench
