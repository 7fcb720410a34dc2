package calalarm

import "github.com/jetmail/jetmail/shared/task"

// variantOf is the task that delivers an alarm of this ACTION.
func variantOf(action string) task.Variant {
	if action == "EMAIL" {
		return task.CalendarAlarmEmail
	}
	return task.CalendarAlarmNotification
}
