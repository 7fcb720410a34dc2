package adminapi

import (
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

// The responses of the x:TaskManager methods. The TaskManager is one
// object, id task.SingletonID, whose JSON form is task.Settings's; its
// updates are jmap.PatchObject values such as {"maxAttempts": 5} or
// {"strategy/delay": "10m"}, checked by task.ApplySettings.
type (
	TaskManagerGetResponse = jmap.GetResponse[task.Settings]
	TaskManagerSetResponse = jmap.SetResponse[jmap.None, jmap.None]
)

// FixedDelayStrategy is a FixedDelay strategy as an x:TaskManager/set
// update gives it. Durations are the API's strings ("10m"), checked by the
// server.
type FixedDelayStrategy struct {
	Type  task.StrategyType `json:"@type"`
	Delay string            `json:"delay"`
}

// NewFixedDelay is the FixedDelay strategy with delay.
func NewFixedDelay(delay string) FixedDelayStrategy {
	return FixedDelayStrategy{Type: task.FixedDelay, Delay: delay}
}

// ExponentialBackoffStrategy is an ExponentialBackoff strategy as an
// x:TaskManager/set update gives it.
type ExponentialBackoffStrategy struct {
	Type         task.StrategyType `json:"@type"`
	Factor       float64           `json:"factor"`
	InitialDelay string            `json:"initialDelay"`
	MaxDelay     string            `json:"maxDelay"`
	Jitter       bool              `json:"jitter"`
}

// NewExponentialBackoff is the ExponentialBackoff strategy with these
// settings.
func NewExponentialBackoff(factor float64, initialDelay, maxDelay string, jitter bool) ExponentialBackoffStrategy {
	return ExponentialBackoffStrategy{Type: task.ExponentialBackoff, Factor: factor, InitialDelay: initialDelay, MaxDelay: maxDelay, Jitter: jitter}
}
