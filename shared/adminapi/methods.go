package adminapi

// The methods of the admin API.
const (
	MethodTaskGet         = "x:Task/get"
	MethodTaskQuery       = "x:Task/query"
	MethodTaskSet         = "x:Task/set"
	MethodTaskManagerGet  = "x:TaskManager/get"
	MethodTaskManagerSet  = "x:TaskManager/set"
	MethodQueueGet        = "x:Queue/get"
	MethodQueueQuery      = "x:Queue/query"
	MethodQueueSet        = "x:Queue/set"
	MethodQueueExport     = "x:Queue/export"
	MethodQueueImport     = "x:Queue/import"
	MethodVirtualQueueGet = "x:VirtualQueue/get"
	MethodVirtualQueueSet = "x:VirtualQueue/set"
	MethodQueueShape      = "x:Queue/shape"
)
