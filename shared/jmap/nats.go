package jmap

import "strings"

// NATSSubjectPrefix starts the admin API's subjects over NATS.
const NATSSubjectPrefix = "jetmail.api."

// NATSSubject is where API user user calls the methods of one object type
// over NATS: "x:Task" and "admin" give jetmail.api.x-task.admin. The
// caller is authenticated by its NATS identity, which the server's
// permissions let publish on its own user's subjects only (see natsauth):
// no secret travels.
func NATSSubject(objectType, user string) string {
	return NATSSubjectPrefix + NATSToken(objectType) + "." + user
}

// NATSToken is an object type as a subject token: lower case, ':' as '-'.
func NATSToken(objectType string) string {
	return strings.ReplaceAll(strings.ToLower(objectType), ":", "-")
}

// ObjectType is the object type of a method name: "x:Task/get" → "x:Task".
func ObjectType(method string) string {
	t, _, _ := strings.Cut(method, "/")
	return t
}
