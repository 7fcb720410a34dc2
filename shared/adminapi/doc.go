// Package adminapi defines jetmail's admin API once, for the server and the
// CLI: the method names, each method's arguments and response, and the
// objects they carry. The services (services/scheduler/api.go,
// services/delivery/api.go) decode these arguments and encode these
// responses; cmd/internal/cli builds the same arguments and decodes the
// same responses, so the two cannot drift apart.
//
// The calls are JMAP method calls (RFC 8620) carried by package jmap, which
// also holds the standard shapes every object type shares: jmap.GetArgs
// and jmap.GetResponse, jmap.QueryArgs and jmap.QueryResponse, jmap.SetArgs
// and jmap.SetResponse. This package instantiates them per object:
//
//	x:Task/get, /query, /set            Task, TaskFilter, TaskCreated, TaskUpdated
//	x:TaskManager/get, /set             task.Settings, StrategyFixedDelay, StrategyExponentialBackoff
//	x:Queue/get, /query, /set           QueueEntry, QueueFilter, QueueSetArgs, QueueEntryUpdated
//	x:Queue/export, /import             QueueExportArgs, QueueMessage, QueueImportResponse
//	x:VirtualQueue/get, /set            VirtualQueue, VirtualQueuePatch
//	x:Trace/get, /query                 Trace, TraceFilter
//
// The wire format is the reference's (the Task and TaskManager objects of
// the task manager pages) inside RFC 8620's envelopes. Errors are precise:
// a method error or a SetError always has a type and a description, and an
// invalidProperties SetError names the properties. The filters decode
// themselves so that a property they do not know is an unsupportedFilter
// method error, and a bad value an invalidArguments one naming it
// ("filter/dueAfter: bad date-time ...").
//
// Objects are state-less: every state is jmap.UntrackedState.
package adminapi
