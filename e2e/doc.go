// Package e2e holds end-to-end tests: they build the jetmail binary and run
// it as real processes against real NATS servers on loopback, the way an
// operator would.
package e2e
