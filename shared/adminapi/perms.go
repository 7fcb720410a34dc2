package adminapi

// The permissions of the admin API methods (api.users.<name>.permissions),
// named as the reference names them; "admin" holds every one. Each service
// checks the ones of its methods, and the web console shows an action only
// to a user who holds its permission.
const (
	PermTaskGet           = "sysTaskGet"
	PermTaskQuery         = "sysTaskQuery"
	PermTaskCreate        = "sysTaskCreate"
	PermTaskUpdate        = "sysTaskUpdate"
	PermTaskDestroy       = "sysTaskDestroy"
	PermTaskManagerGet    = "sysTaskManagerGet"
	PermTaskManagerUpdate = "sysTaskManagerUpdate"

	PermQueueGet     = "sysQueueGet"
	PermQueueQuery   = "sysQueueQuery"
	PermQueueUpdate  = "sysQueueUpdate"
	PermQueueDestroy = "sysQueueDestroy"
	PermQueueImport  = "sysQueueImport"

	PermAccountGet   = "sysAccountGet"
	PermAccountQuery = "sysAccountQuery"

	PermTraceGet   = "sysTraceGet"
	PermTraceQuery = "sysTraceQuery"
)

// The permissions of the cluster's role maps, which the web console
// shows and changes (the CLI changes them over NATS, as the NATS identity
// allows).
const (
	PermClusterGet    = "sysClusterGet"
	PermClusterUpdate = "sysClusterUpdate"
)
