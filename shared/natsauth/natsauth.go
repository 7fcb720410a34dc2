// Package natsauth is the NATS permission layout of a jetmail cluster: one
// NATS identity per service, allowed only the subjects, streams and buckets
// that service uses, so that a leaked smtp credential cannot read the
// tasks, a delivery credential cannot take the admin API's requests, and
// no credential at all gets in.
//
// What each identity may do:
//
//	every node     the cluster buckets (nodes, roles, shards, leases), the
//	               micro discovery subjects ($SRV), replies to what it is
//	               asked, and its own reply inbox, _INBOX.<identity>.>
//	smtp           write queue entries, triggers and message bodies: it may
//	               create those streams and read their metadata, not a
//	               queued entry or body (only a body's own metadata, which
//	               the object store reads before a write); read the store's
//	               directory (local recipients, AUTH); record message
//	               traces (publish, and create the stream, not read it);
//	               the rate-limit and greylist buckets, in full
//	delivery       the queue, its bodies and controls, the store and the
//	               duplicate-ID list (local delivery), in full; record
//	               message traces, as smtp;
//	               answers x:Queue, x:VirtualQueue and the store's
//	               (x:Account, x:Domain, Mailbox, Email) API calls; asks
//	               full-text searches (jetmail.fts.search.*)
//	indexer        the store (documents and blobs to index, the change log
//	               it feeds from), the task and settings buckets and the
//	               fts-indexing role stream; the full-text subjects
//	               (jetmail.fts.>); reads message traces (and creates
//	               their stream), not records them; ensures the other
//	               role streams and their anchors; answers the store's
//	               and x:Trace API calls
//	maintenance    the store, the task and settings buckets, the
//	               rate-limit, greylist and duplicate-ID buckets (which it
//	               empties), the purge.stores and purge.accounts role
//	               streams, and the outbound queue (DestroyAccount cancels
//	               the account's mail); ensures the other role streams and
//	               their anchors; answers the store's API calls
//	acme           the store's directory (the domains), read only, and
//	               the task and settings buckets and the acme.renew role
//	               stream, and writes jetmail-certs (every identity reads
//	               it: the certificates its TLS listeners serve and the
//	               challenges it answers); DNS updates go to the DNS
//	               servers, not NATS
//	calendar       the store (the events, the change log's calendar
//	               changes), the task and settings buckets and the
//	               calendar-alerts and imip-processing role streams, its
//	               alarm and iTIP buckets, and the outbound queue (alarm
//	               emails, iMIP mail), and submits push-notifications
//	               work (calendar alerts); answers the store's API calls
//	push           the store (account credentials, the change log), the
//	               task and settings buckets and the push-notifications
//	               role stream, and the push subscriptions' bucket;
//	               answers PushSubscription and the store's API calls
//	spam-trainer   the store (the change log's moves, the emails'
//	               blobs), the task and settings buckets and the
//	               bayes-training role stream, the spam models and samples,
//	               and jetmail.spam.abort; answers the store's API calls
//	scheduler      the task and settings buckets and the role streams
//	               (jetmail.work.<role>), in full; answers x:Task and
//	               x:TaskManager API calls
//	reports        the task and settings buckets and the metrics.calculate
//	               and metrics.push role streams; reads the store's
//	               directory (counts the accounts) and its streams' sizes;
//	               the outbound queue (counts it; queues the aggregate
//	               reports). Every identity may use jetmail-cluster-stats,
//	               the figures its /metrics shows and its counters, and
//	               jetmail-console-sessions, the web console's sessions
//	api-<user>     calls the admin API as API user <user>, and nothing else
//	admin          everything (the operator: nats CLI, jetmail CLI)
//
// The admin API over NATS authenticates callers by their NATS identity: a
// call published on jetmail.api.<type>.<user> runs as API user <user>, and
// only identity api-<user> (or admin) may publish there, so no bearer
// token travels over NATS. Replies go to the caller's own inbox, which no
// other identity may subscribe to.
//
// A node that runs several services takes the union of their identities'
// permissions (Layout with a user per combination: "node" runs them all).
package natsauth

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/console"
	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/ratelimit"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/trace"
	"github.com/jetmail/jetmail/shared/work"
)

// Service names, as `jetmail serve` takes them.
const (
	SMTP        = "smtp"
	Delivery    = "delivery"
	Scheduler   = "scheduler"
	Indexer     = "indexer"
	Maintenance = "maintenance"
	SpamTrainer = "spam-trainer"
	Calendar    = "calendar"
	Push        = "push"
	Acme        = "acme"
	Reports     = "reports"
)

// Services lists the services that have an identity of their own.
var Services = []string{Acme, Calendar, Delivery, Indexer, Maintenance, Push, Reports, Scheduler, SMTP, SpamTrainer}

// storeAPITypes are the object types of the store's API, answered by every
// node that holds the whole store.
var storeAPITypes = []string{jmap.ObjectType(adminapi.MethodAccountGet), jmap.ObjectType(adminapi.MethodDomainGet),
	jmap.ObjectType(adminapi.MethodMailboxGet), jmap.ObjectType(adminapi.MethodEmailGet), jmap.ObjectType(adminapi.MethodTenantGet),
	jmap.ObjectType(adminapi.MethodCalendarEventGet), jmap.ObjectType(adminapi.MethodContactCardGet), jmap.ObjectType(adminapi.MethodFileNodeGet)}

// apiTypes are the object types each service answers over NATS.
var apiTypes = map[string][]string{
	// Delivery nodes hold the whole store, so they answer its API too.
	Delivery:    append([]string{jmap.ObjectType(adminapi.MethodQueueGet), jmap.ObjectType(adminapi.MethodVirtualQueueGet)}, storeAPITypes...),
	Indexer:     append([]string{jmap.ObjectType(adminapi.MethodTraceGet)}, storeAPITypes...),
	Maintenance: storeAPITypes,
	SpamTrainer: storeAPITypes,
	Calendar:    storeAPITypes,
	Push:        append([]string{jmap.ObjectType(adminapi.MethodPushSubscriptionGet)}, storeAPITypes...),
	Scheduler:   {jmap.ObjectType(adminapi.MethodTaskGet), jmap.ObjectType(adminapi.MethodTaskManagerGet)},
}

// grant is a set of allowed subjects.
type grant struct{ pub, sub []string }

func (g *grant) add(o grant) {
	g.pub = append(g.pub, o.pub...)
	g.sub = append(g.sub, o.sub...)
}

// streamMeta lets an identity create a stream, update it to its config and
// read its info, but not read its messages or make consumers (a push
// consumer would deliver them to it).
func streamMeta(stream string) grant {
	return grant{pub: []string{
		"$JS.API.STREAM.CREATE." + stream,
		"$JS.API.STREAM.UPDATE." + stream,
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.CONSUMER.INFO." + stream + ".*",
	}}
}

// streamFull lets an identity do anything with a stream and its
// consumers.
func streamFull(stream string) grant {
	return grant{pub: []string{
		"$JS.API.STREAM.*." + stream,
		"$JS.API.STREAM.MSG.*." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.*." + stream,
		"$JS.API.CONSUMER.*." + stream + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".>",
		"$JS.ACK." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}}
}

func kvFull(bucket string) grant {
	g := streamFull("KV_" + bucket)
	g.pub = append(g.pub, "$KV."+bucket+".>")
	return g
}

func objFull(bucket string) grant {
	g := streamFull("OBJ_" + bucket)
	g.pub = append(g.pub, "$O."+bucket+".>")
	return g
}

// base is what every node needs, whatever its services.
func base(identity string) grant {
	g := grant{
		pub: []string{"$JS.API.INFO", "$JS.API.STREAM.NAMES"},
		sub: []string{natsconn.InboxPrefix(identity) + ".>", "$SRV.>", "jetmail.*.*.status"},
	}
	for _, b := range []string{cluster.BucketNodes, cluster.BucketRoles, cluster.BucketShards, cluster.BucketLeases} {
		g.add(kvFull(b))
	}
	// The certificates: every node's TLS listeners serve them and its
	// HTTP listeners answer the challenges, reading them; only the acme
	// service writes them.
	g.add(kvReads(certs.Bucket))
	// The cluster figures every node shows, and its counters.
	g.add(kvFull(clusterstats.Bucket))
	// The web console's sessions: every node with an HTTP listener
	// serves the console, and any of them takes a session.
	g.add(kvFull(console.SessionBucket))
	return g
}

// kvReads lets an identity read a KV bucket (gets from the leader,
// watches) and create it, not write to it.
func kvReads(bucket string) grant {
	stream := "KV_" + bucket
	g := streamReads(stream)
	g.pub = append(g.pub, "$JS.API.STREAM.MSG.GET."+stream, "$JS.FC."+stream+".>")
	return g
}

// traceReads lets an identity read message traces (consumers of their
// stream, direct gets) and create the stream, not record or remove them.
func traceReads() grant { return streamReads(trace.Stream) }

// streamReads lets an identity read a stream (consumers, direct gets) and
// create it, not write to it.
func streamReads(s string) grant {
	g := streamMeta(s)
	g.pub = append(g.pub,
		"$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>",
		"$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
		"$JS.API.CONSUMER.DELETE."+s+".*", "$JS.API.CONSUMER.MSG.NEXT."+s+".>",
	)
	return g
}

// roleStreamsEnsure lets a node with role work ensure every role's stream
// and its anchor at start (work.EnsureStream) without consuming the
// other roles' work. The anchor is read with a direct get of its subject
// (the streams allow direct gets), or the message get of a stream created
// before they did; listings of tasks read the streams in direct-get
// batches (engine.Scan). Neither of the last two can be narrowed to a
// subject: reading, not consuming.
func roleStreamsEnsure() grant {
	var g grant
	for _, r := range roles.All {
		g.add(streamMeta(work.StreamName(r)))
		g.pub = append(g.pub, "$JS.API.STREAM.MSG.GET."+work.StreamName(r), work.AnchorSubject(r),
			"$JS.API.DIRECT.GET."+work.StreamName(r), "$JS.API.DIRECT.GET."+work.StreamName(r)+"."+work.AnchorSubject(r))
	}
	return g
}

// directoryReads lets an identity read the store's directory (accounts,
// domains), from its stream's leader.
func directoryReads() grant {
	var g grant
	g.add(streamMeta("KV_" + store.BucketDirectory))
	g.pub = append(g.pub, "$JS.API.STREAM.MSG.GET.KV_"+store.BucketDirectory) // reads go to the leader (store.ConsistentKV)
	return g
}

// wholeStore lets an identity use the whole mail store: its directory,
// documents, blobs and change log.
func wholeStore() grant {
	var g grant
	g.add(kvFull(store.BucketDirectory))
	g.add(kvFull(store.BucketDocuments))
	g.add(objFull(store.BucketBlobs))
	g.add(streamFull(store.StreamChanges))
	g.pub = append(g.pub, "jetmail.changes.>")
	return g
}

// roleRunner lets a service run the tasks of its own roles (a
// taskmanager.Manager with RunOnly): the task and settings buckets, those
// roles' streams, and the ensuring of the others'.
func roleRunner(rs ...roles.Role) grant {
	var g grant
	g.add(kvFull(taskmanager.BucketTasks))
	g.add(kvFull(taskmanager.BucketSettings))
	g.add(roleStreamsEnsure())
	for _, r := range rs {
		g.add(streamFull(work.StreamName(r)))
		g.pub = append(g.pub, work.SubjectPrefix(r)+">")
	}
	return g
}

// calendarAlarms is the calendar service's bucket of pending alarm tasks
// (services/calendar.BucketAlarms: a service's own name, not imported).
const calendarAlarms = "jetmail-calendar-alarms"

// pushSubscriptions is the push subscriptions' bucket (shared/push.Bucket).
const pushSubscriptions = "jetmail-push-subscriptions"

// calendarItip is the calendar service's record of what each scheduled
// event's account last sent (services/calendar.BucketItip).
const calendarItip = "jetmail-calendar-itip"

// queueAll lets an identity work the outbound queue: its entries, bodies,
// controls and triggers, recording what it does in the traces.
func queueAll() grant {
	g := traces()
	g.add(kvFull(mailqueue.BucketQueue))
	g.add(objFull(mailqueue.BucketMessages))
	g.add(kvFull(mailqueue.BucketControl))
	g.add(streamFull(mailqueue.Stream))
	g.pub = append(g.pub, "jetmail.queue.>")
	return g
}

// reportEvents lets an identity record DMARC and TLS report events:
// publish them and create their stream, not read them.
func reportEvents() grant {
	g := streamMeta(aggreport.Stream)
	g.pub = append(g.pub, aggreport.SubjectPrefix+">")
	return g
}

// traces lets an identity record message traces: publish them and
// create the stream, not read them.
func traces() grant {
	g := streamMeta(trace.Stream)
	g.pub = append(g.pub, trace.SubjectPrefix+">")
	return g
}

// service is what one service needs beyond base.
func service(name string) (grant, error) {
	var g grant
	switch name {
	case SMTP:
		g.add(traces())
		g.add(reportEvents()) // the DMARC results of received mail
		g.add(streamMeta("KV_" + mailqueue.BucketQueue))
		g.add(streamMeta("OBJ_" + mailqueue.BucketMessages))
		g.add(streamMeta(mailqueue.Stream))
		g.add(kvFull(mailqueue.BucketControl)) // paused queues: read by intake too
		g.add(objFull(spamstore.BucketModels)) // spam.threshold.reject scores at DATA
		g.add(kvFull(ratelimit.Bucket))
		g.add(kvFull(greylist.Bucket))
		g.add(directoryReads()) // local recipients and AUTH
		g.pub = append(g.pub,
			"$KV."+mailqueue.BucketQueue+".>", "$O."+mailqueue.BucketMessages+".>", "jetmail.queue.>",
			// The object store reads a name's metadata before writing it.
			"$JS.API.DIRECT.GET.OBJ_"+mailqueue.BucketMessages+".$O."+mailqueue.BucketMessages+".M.>",
			// work.EnsureAnchor reads the stream's anchor.
			"$JS.API.DIRECT.GET."+mailqueue.Stream+"."+mailqueue.AnchorSubject,
		)
	case Delivery:
		g.add(queueAll())
		g.add(reportEvents()) // the TLS results of deliveries
		g.add(wholeStore())   // local delivery
		g.add(kvFull(dupid.Bucket))
		g.add(objFull(spamstore.BucketModels)) // the spam filter's models and rules
		g.add(kvFull(dkimkey.Bucket))          // the rotated DKIM keys it signs with
		g.pub = append(g.pub, search.SearchPrefix+"*")
	case Indexer:
		g.add(wholeStore())
		g.add(roleRunner(roles.FtsIndexing))
		g.add(traceReads()) // the trace index, and x:Trace/get
		g.pub = append(g.pub, "jetmail.fts.>")
		g.sub = append(g.sub, "jetmail.fts.>")
	case Maintenance:
		g.add(wholeStore())
		g.add(roleRunner(roles.PurgeStores, roles.PurgeAccounts))
		// resetRateLimiters, removeGreylist, removeSieveLists.
		for _, b := range []string{ratelimit.Bucket, greylist.Bucket, dupid.Bucket} {
			g.add(kvFull(b))
		}
		// DestroyAccount cancels the account's queued mail (and records it
		// in the message's trace).
		g.add(queueAll())
		// AccountMaintenance reindex creates index tasks; StoreMaintenance
		// reindex asks the holders to rebuild.
		g.pub = append(g.pub, work.SubjectPrefix(roles.FtsIndexing)+">", search.RebuildPrefix+"*")
	case Calendar:
		g.add(wholeStore()) // the events, and the change log's calendar consumer
		g.add(roleRunner(roles.CalendarAlerts, roles.ImipProcessing))
		g.add(kvFull(calendarAlarms))
		g.add(kvFull(calendarItip))
		g.add(queueAll()) // alarm emails, iMIP mail
		// Calendar alerts, for the push service to push.
		g.pub = append(g.pub, work.SubjectPrefix(roles.PushNotifications)+">")
	case Acme:
		g.add(directoryReads()) // the domains
		g.add(roleRunner(roles.AcmeRenew))
		g.add(kvFull(dkimkey.Bucket)) // DkimManagement rotates the keys
		g.add(kvFull(certs.Bucket))   // AcmeRenewal stores what it obtains
	case Reports:
		g.add(roleRunner(roles.MetricsCalculate, roles.MetricsPush))
		g.add(streamReads("KV_" + store.BucketDirectory)) // counts the accounts
		for _, st := range []string{"KV_" + store.BucketDocuments, "OBJ_" + store.BucketBlobs, store.StreamChanges} {
			g.add(streamMeta(st)) // the store's sizes
		}
		g.add(queueAll()) // counts the queue; queues the aggregate reports
		g.add(streamReads(aggreport.Stream))
		g.add(kvFull(aggreport.Bucket))
	case Push:
		g.add(wholeStore()) // account credentials, the change log
		g.add(roleRunner(roles.PushNotifications))
		g.add(kvFull(pushSubscriptions))
	case SpamTrainer:
		g.add(wholeStore()) // samples: the change log, the emails, their blobs
		g.add(roleRunner(roles.BayesTraining))
		g.add(objFull(spamstore.BucketModels))
		g.add(kvFull(spamstore.BucketSamples))
		g.pub = append(g.pub, spamstore.AbortSubject)
		g.sub = append(g.sub, spamstore.AbortSubject)
	case Scheduler:
		g.add(kvFull(taskmanager.BucketTasks))
		g.add(kvFull(taskmanager.BucketSettings))
		for _, r := range roles.All {
			g.add(streamFull(work.StreamName(r)))
		}
		g.pub = append(g.pub, "jetmail.work.>")
	default:
		return grant{}, fmt.Errorf("no NATS identity for service %q (services: %s)", name, strings.Join(Services, ", "))
	}
	for _, t := range apiTypes[name] {
		g.sub = append(g.sub, jmap.NATSSubject(t, "*"))
	}
	return g, nil
}

// responses lets an identity answer the requests it receives (API calls,
// micro status) without a publish permission for every caller's inbox.
var responses = &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}

func (g grant) permissions(answers bool) *server.Permissions {
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: dedupe(g.pub)},
		Subscribe: &server.SubjectPermission{Allow: dedupe(g.sub)},
	}
	if answers {
		p.Response = responses
	}
	return p
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

// ForServices is the permission set of a node identity that runs the named
// services (every service when none is named), connecting as identity
// (the public NKey its connections take their inbox under).
func ForServices(identity string, services []string) (*server.Permissions, error) {
	if len(services) == 0 {
		services = Services
	}
	g := base(identity)
	for _, s := range services {
		sg, err := service(s)
		if err != nil {
			return nil, err
		}
		g.add(sg)
	}
	return g.permissions(true), nil
}

// ForAPIUser is the permission set of an identity that calls the admin
// API as API user user, and does nothing else.
func ForAPIUser(identity, user string) *server.Permissions {
	g := grant{pub: []string{jmap.NATSSubject("*", user)}, sub: []string{natsconn.InboxPrefix(identity) + ".>"}}
	return g.permissions(false)
}

// Identity is one NATS user of a layout.
type Identity struct {
	// Name names the identity: its seed file is <Name>.nk.
	Name string
	// Services are what a node identity runs (all of them for "node").
	Services []string
	// APIUser, when set, makes an API caller identity for that API user.
	APIUser string
	// Admin may do everything.
	Admin bool
}

// Identities is the default layout: one identity per service, "node" for
// nodes that run every service, "api-<user>" per API user, and "admin".
func Identities(apiUsers []string) []Identity {
	var out []Identity
	for _, s := range Services {
		out = append(out, Identity{Name: s, Services: []string{s}})
	}
	out = append(out, Identity{Name: "node", Services: Services})
	for _, u := range apiUsers {
		out = append(out, Identity{Name: "api-" + u, APIUser: u})
	}
	return append(out, Identity{Name: "admin", Admin: true})
}

// Permissions is the permission set of id connecting with public NKey
// pub (nil for the admin: everything).
func (id Identity) Permissions(pub string) (*server.Permissions, error) {
	switch {
	case id.Admin:
		return nil, nil
	case id.APIUser != "":
		return ForAPIUser(pub, id.APIUser), nil
	}
	return ForServices(pub, id.Services)
}

// User is an identity with its public NKey.
type User struct {
	Identity
	PublicKey string
}

// NkeyUsers are the users as an embedded server takes them.
func NkeyUsers(users []User) ([]*server.NkeyUser, error) {
	out := make([]*server.NkeyUser, 0, len(users))
	for _, u := range users {
		p, err := u.Permissions(u.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", u.Name, err)
		}
		out = append(out, &server.NkeyUser{Nkey: u.PublicKey, Permissions: p})
	}
	return out, nil
}

// ServerConfig is the users as a nats-server configuration block, to
// include from each server's configuration ("include auth.conf").
func ServerConfig(users []User) (string, error) {
	var b strings.Builder
	b.WriteString("# jetmail's NATS identities and their permissions (jetmail nats-auth).\n")
	b.WriteString("# Include it in every server of the cluster: include \"auth.conf\"\n")
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range users {
		p, err := u.Permissions(u.PublicKey)
		if err != nil {
			return "", fmt.Errorf("identity %s: %w", u.Name, err)
		}
		fmt.Fprintf(&b, "    # %s\n    {\n      nkey: %q\n", u.Name, u.PublicKey)
		if p != nil {
			b.WriteString("      permissions: {\n")
			writeList(&b, "publish", p.Publish.Allow)
			writeList(&b, "subscribe", p.Subscribe.Allow)
			if r := p.Response; r != nil {
				fmt.Fprintf(&b, "        allow_responses: { max: %d, expires: %q }\n", r.MaxMsgs, r.Expires.String())
			}
			b.WriteString("      }\n")
		}
		b.WriteString("    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func writeList(b *strings.Builder, name string, subjects []string) {
	fmt.Fprintf(b, "        %s: { allow: [\n", name)
	for _, s := range subjects {
		fmt.Fprintf(b, "          %q\n", s)
	}
	b.WriteString("        ] }\n")
}
