package store

import (
	"context"

	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
)

// Name is the component's name among a node's services.
const Name = "store"

// Component opens the store on a node, for the services that use it (local
// delivery, the intake's recipient and AUTH checks): built once per node,
// started before them. A full store (not DirectoryOnly) seeds itself from
// smtp.users on start; a directory-only one only reads.
type Component struct {
	p    Params
	life lifecycle.Lifecycle
	s    *Store
}

// NewComponent returns the component; p's JS, Replicas, Partitions, Clock
// and Logger are filled from the node's when zero.
func NewComponent(p Params) *Component { return &Component{p: p} }

// Name implements node.Service.
func (c *Component) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork.
func (*Component) WithoutRoleWork() {}

// Start implements node.Service: it opens the store and seeds it.
func (c *Component) Start(ctx context.Context, d node.Deps) error {
	return c.life.Start(ctx, func(ctx context.Context, _ *lifecycle.Undo) error {
		p := c.p
		if p.JS == nil {
			p.JS = d.JS()
		}
		if p.Replicas == 0 {
			p.Replicas = d.Config.NATS.Replicas
		}
		if p.Partitions == 0 {
			p.Partitions = d.Config.Cluster.Partitions
		}
		if p.Clock == nil {
			p.Clock = d.Clock
		}
		if p.ChangelogRetention == 0 {
			p.ChangelogRetention = d.Config.Storage.ChangelogRetention
		}
		if p.ArchiveRetention == 0 {
			p.ArchiveRetention = d.Config.Storage.ArchiveRetention
		}
		if p.Logger == nil {
			p.Logger = d.Logger
		}
		s, err := Open(ctx, p)
		if err != nil {
			return err
		}
		c.s = s
		if p.DirectoryOnly {
			return nil
		}
		created, err := s.Seed(ctx, d.Config.SMTP.Users)
		if err != nil {
			return err
		}
		if len(created) > 0 {
			s.log.Info("accounts created from smtp.users", "accounts", created)
		}
		RegisterAPI(d.API, s)
		if d.HTTP != nil {
			d.HTTP.HandleHTTP(DownloadPath, DownloadHandler(d.API, s))
			d.HTTP.HandleHTTP(UploadPath, UploadHandler(d.API, s))
		}
		return nil
	})
}

// Shutdown implements node.Service.
func (c *Component) Shutdown(ctx context.Context) error { return c.life.Stop(ctx) }

// Store is the open store; nil before Start.
func (c *Component) Store() *Store { return c.s }

// NeedAll makes the component open the whole store, not only the
// directory: a node's services share one component, opened for the
// service that needs the most. Call it before Start.
func (c *Component) NeedAll() { c.p.DirectoryOnly = false }
