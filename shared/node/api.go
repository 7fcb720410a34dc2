package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/jetmail/jetmail/shared/jmap"
)

func newAPI(n *Node) *jmap.Server {
	var users []jmap.User
	names := make([]string, 0, len(n.cfg.API.Users))
	for name := range n.cfg.API.Users {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		u := n.cfg.API.Users[name]
		users = append(users, jmap.User{Name: name, Secret: u.Secret, Permissions: u.Permissions})
	}
	users = append(users, n.p.ExtraUsers...)
	if len(users) == 0 {
		n.log.Warn("no API users configured (api.users.<name>): the admin API refuses every request")
	}
	return jmap.NewServer(users, n.log)
}

// semver is the form NATS micro accepts for a service's version
// (semver.org 2.0.0, as micro checks it).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

var notIdentifier = regexp.MustCompile(`[^0-9A-Za-z-]+`)

// MicroVersion is version in the semantic form NATS micro needs, the one
// every micro service of a node shows: "v1.2.0-3-gabc1234-dirty" (git
// describe) becomes "1.2.0-3-gabc1234-dirty"; a version that is no
// semantic version ("dev", a bare revision "abc1234-dirty") becomes a
// pre-release of 0.0.0 ("0.0.0-abc1234-dirty").
func MicroVersion(version string) string {
	if v := strings.TrimPrefix(version, "v"); semver.MatchString(v) {
		return v
	}
	id := strings.Trim(notIdentifier.ReplaceAllString(version, "-"), "-")
	if id == "" {
		id = "unknown"
	}
	if strings.Trim(id, "0123456789") == "" {
		id = "r" + id // a numeric identifier may not start with 0
	}
	return "0.0.0-" + id
}

// microVersion is the node's version as its micro services show it.
func (n *Node) microVersion() string { return MicroVersion(n.p.Version) }

// AddMicro registers a NATS micro service for this node ("nats micro ls"
// lists it). Every service gets a "status" endpoint answering status();
// the node stops it on Shutdown.
func (n *Node) AddMicro(name, description string, status func() any) (micro.Service, error) {
	svc, err := micro.AddService(n.conn, micro.Config{
		Name: name, Version: n.microVersion(), Description: description,
		Metadata: map[string]string{"node_id": n.id},
	})
	if err != nil {
		return nil, fmt.Errorf("register micro service %s: %w", name, err)
	}
	err = svc.AddEndpoint("status", micro.HandlerFunc(func(r micro.Request) {
		_ = r.RespondJSON(status())
	}), micro.WithEndpointSubject(fmt.Sprintf("jetmail.%s.%s.status", name, n.id)))
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register micro service %s: %w", name, err)
	}
	n.mu.Lock()
	n.micros = append(n.micros, svc)
	n.mu.Unlock()
	return svc, nil
}

// startMicro registers the node itself ("nats micro ls" lists it).
func (n *Node) startMicro() error {
	svc, err := n.AddMicro("jetmail-node", "a jetmail node: membership, roles, leader duties, admin API", func() any {
		return map[string]any{"node": n.id, "leader": n.IsLeader(), "ready": n.ready.Load()}
	})
	n.micro = svc
	return err
}

// serveAPIOverNATS answers the admin API over NATS for the object types
// the node's services registered methods of: a call on
// jetmail.api.<type>.<user> (jmap.NATSSubject) runs as API user
// <user>. The caller is authenticated by its NATS identity: the server's
// permissions (natsauth) let only that user's identity publish there, and
// only API-serving identities subscribe, so no secret travels over NATS.
// A call goes to one node serving its first method's type; a node that
// lacks another method of the same request answers unknownMethod for it.
// Types registered later are served from then on.
func (n *Node) serveAPIOverNATS() {
	n.api.OnType(func(t string) {
		prefix := jmap.NATSSubjectPrefix + jmap.NATSToken(t) + "."
		err := n.micro.AddEndpoint("api-"+jmap.NATSToken(t), micro.HandlerFunc(func(r micro.Request) {
			p, prob := n.api.Principal(strings.TrimPrefix(r.Subject(), prefix))
			if prob == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var out []byte
				if out, prob = n.api.Process(ctx, p, r.Data()); prob == nil {
					_ = r.Respond(out)
					return
				}
			}
			b, _ := json.Marshal(prob)
			_ = r.Error(fmt.Sprint(prob.Status), prob.Detail, b)
		}), micro.WithEndpointSubject(prefix+"*"))
		if err != nil {
			n.log.Error("cannot serve the admin API over NATS", "type", t, "err", err)
		}
	})
}
