// Package console is the operator's web console, served under /ui/ on
// every node's admin HTTP listener (http.listen): the tasks, the task
// manager's policy, the outbound queue, the cluster's roles and the
// accounts, with the actions an operator takes on them.
//
// Pages are rendered on the server (html/template); a few lines of
// JavaScript confirm bulk actions and refresh live figures by polling the
// page itself. Everything the console shows or does goes through the
// admin API in process (jmap.Client with Server), as the logged-in user:
// the API's permissions apply to every action, an action the user may not
// take has no button, and a method no service of this node serves says so.
//
// Sessions:
//
//	GET /ui/login -> POST /ui/login (API user name and secret, checked as
//	Basic credentials) -> session cookie (HttpOnly, SameSite=Strict, Secure
//	over TLS, path /ui/) -> pages -> POST /ui/logout (session deleted)
//
// A session is a random token whose SHA-256 keys an entry of the KV bucket
// jetmail-console-sessions, with a time to live (SessionIdle, renewed as
// the user works): any node of the cluster takes it, and it outlives a
// node's restart. The user's permissions are read from the configuration
// on every request, so a user removed from api.users is logged out at
// once. Every POST carries the session's CSRF token (a form field) and,
// when the browser sends one, an Origin of this host; others get 403. Every
// action is logged with the user who took it (INFO "console action").
package console
