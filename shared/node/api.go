package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/jetmail/jetmail/shared/jmap"
)

// APISubject is where the admin API answers over NATS (any node answers;
// send the same Authorization header as over HTTP).
const APISubject = "jetmail.api.jmap"

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

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+`)

// microVersion is the node's version in the semantic form NATS micro needs.
func (n *Node) microVersion() string {
	if semver.MatchString(n.p.Version) {
		return n.p.Version
	}
	return "0.0.0-" + regexp.MustCompile(`[^0-9A-Za-z-]`).ReplaceAllString(n.p.Version, "-")
}

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

// startMicro registers the node itself, with the admin API over NATS.
func (n *Node) startMicro() error {
	svc, err := n.AddMicro("jetmail-node", "a jetmail node: membership, roles, leader duties, admin API", func() any {
		return map[string]any{"node": n.id, "leader": n.IsLeader(), "ready": n.ready.Load()}
	})
	if err != nil {
		return err
	}
	return svc.AddEndpoint("jmap", micro.HandlerFunc(func(r micro.Request) {
		p, prob := n.api.Authenticate(r.Headers().Get("Authorization"))
		if prob != nil {
			b, _ := json.Marshal(prob)
			_ = r.Error(fmt.Sprint(prob.Status), prob.Detail, b)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, prob := n.api.Process(ctx, p, r.Data())
		if prob != nil {
			b, _ := json.Marshal(prob)
			_ = r.Error(fmt.Sprint(prob.Status), prob.Detail, b)
			return
		}
		_ = r.Respond(out)
	}), micro.WithEndpointSubject(APISubject))
}
