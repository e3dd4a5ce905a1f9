package kafkatest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupReaper removes classic consumer group members that kfake never
// expires.
//
// kfake (v0.0.0-20260918054303-01f206a7e32c, groups.go) gives a member
// added by a JoinGroup no session timer until its JoinGroup response is
// sent. When the member's connection closed while that JoinGroup waited for
// the rebalance, kfake still counts the member as joined, and it may drop
// the response and so never start the timer. If the leader's SyncGroup then
// makes the group Stable, the dead member keeps its partitions until
// something else starts a rebalance. kafka-go joins with JoinGroup v1 or v2,
// where the first join already adds the member, so a consumer killed during
// a rebalance can leave such a member behind.
//
// The reaper records when each member last sent a JoinGroup, SyncGroup or
// Heartbeat. In a Stable group it sends a LeaveGroup for each member that
// has sent none of them for longer than the group's session timeout, counted
// from the group's last JoinGroup or SyncGroup at the earliest. A live
// member of a Stable group has synced in the current generation and
// heartbeats within its session timeout, so only members that kfake would
// have expired, had their timers run, match.
type groupReaper struct {
	client    *kafkago.Client
	transport *kafkago.Transport
	logger    *slog.Logger
	interval  time.Duration

	mu     sync.Mutex
	groups map[string]*groupActivity
}

// groupActivity is the record of one group's requests.
type groupActivity struct {
	// settled is the time of the group's last JoinGroup or SyncGroup
	// request. A Stable group became Stable at its leader's SyncGroup, so
	// no later than this.
	settled time.Time
	// sessionTimeout is the maximum session timeout of the group's
	// JoinGroup requests.
	sessionTimeout time.Duration
	// lastRequest maps a member id to the time of the last JoinGroup,
	// SyncGroup or Heartbeat request naming it.
	lastRequest map[string]time.Time
	// describeFailed is set after a failed description of the group was
	// logged, so that the failure is logged once until it clears.
	describeFailed bool
}

// reaperInterval is how often the reaper describes the groups it tracks.
const reaperInterval = time.Second

func newGroupReaper(addr string, logger *slog.Logger) *groupReaper {
	transport := &kafkago.Transport{}
	return &groupReaper{
		client:    &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second, Transport: transport},
		transport: transport,
		logger:    logger,
		interval:  reaperInterval,
		groups:    map[string]*groupActivity{},
	}
}

// watch registers the reaper's observers on the cluster. They only record
// requests, and kfake then handles each request as usual.
func (r *groupReaper) watch(cluster *kfake.Cluster) {
	for _, key := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup} {
		// NOTE: kfake remembers the last request of every connection
		// for each control function, closed connections included, so
		// the broker's memory grows a little with every connection.
		cluster.ControlKey(int16(key), r.observe)
	}
}

// observe records a group request. kfake waits for it before handling the
// request, so it only updates the records.
func (r *groupReaper) observe(req kmsg.Request) (kmsg.Response, error, bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		g := r.group(req.Group)
		g.settled = now
		g.sessionTimeout = max(g.sessionTimeout, time.Duration(req.SessionTimeoutMillis)*time.Millisecond)
		if req.MemberID != "" {
			g.lastRequest[req.MemberID] = now
		}
	case *kmsg.SyncGroupRequest:
		g := r.group(req.Group)
		g.settled = now
		g.lastRequest[req.MemberID] = now
	case *kmsg.HeartbeatRequest:
		if g, ok := r.groups[req.Group]; ok {
			g.lastRequest[req.MemberID] = now
		}
	case *kmsg.LeaveGroupRequest:
		if g, ok := r.groups[req.Group]; ok {
			delete(g.lastRequest, req.MemberID)
			for _, m := range req.Members {
				delete(g.lastRequest, m.MemberID)
			}
		}
	}
	return nil, nil, false
}

// group returns the activity record of a group, creating it if needed.
// The caller holds r.mu.
func (r *groupReaper) group(name string) *groupActivity {
	g, ok := r.groups[name]
	if !ok {
		g = &groupActivity{settled: time.Now(), lastRequest: map[string]time.Time{}}
		r.groups[name] = g
	}
	return g
}

// run sweeps the tracked groups every interval until ctx is done.
func (r *groupReaper) run(ctx context.Context) {
	defer r.transport.CloseIdleConnections()
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.sweep(ctx)
		}
	}
}

// staleMember is a member that the reaper removes.
type staleMember struct {
	id     string
	silent time.Duration
}

// sweep describes the tracked groups and removes their stale members.
func (r *groupReaper) sweep(ctx context.Context) {
	names := r.groupNames()
	if len(names) == 0 {
		return
	}
	resp, err := r.client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: names})
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("describe consumer groups to find stale members failed", "groups", names, "error", err)
		}
		return
	}
	for _, desc := range resp.Groups {
		stale := r.staleMembers(desc, time.Now())
		if len(stale) > 0 {
			r.leave(ctx, desc.GroupID, stale)
		}
	}
}

func (r *groupReaper) groupNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.groups))
	for name := range r.groups {
		names = append(names, name)
	}
	return names
}

// staleMembers returns the members of a described group that have been
// silent for longer than the group's session timeout. It also drops the
// records of members that the group no longer has.
func (r *groupReaper) staleMembers(desc kafkago.DescribeGroupsResponseGroup, now time.Time) []staleMember {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[desc.GroupID]
	if !ok {
		return nil
	}

	if errors.Is(desc.Error, kafkago.GroupIdNotFound) || desc.GroupState == "Dead" {
		delete(r.groups, desc.GroupID)
		return nil
	}
	if desc.Error != nil {
		// kafka-go fails to decode members of groups that do not use
		// the consumer protocol's metadata format.
		if !g.describeFailed {
			r.logger.Warn("describe consumer group to find stale members failed", "group", desc.GroupID, "error", desc.Error)
			g.describeFailed = true
		}
		return nil
	}
	g.describeFailed = false

	members := map[string]bool{}
	for _, m := range desc.Members {
		members[m.MemberID] = true
	}
	for id := range g.lastRequest {
		if !members[id] {
			delete(g.lastRequest, id)
		}
	}
	// A group in a rebalance is left to kfake's rebalance and SyncGroup
	// timers, which remove members that do not join or sync in time.
	if desc.GroupState != "Stable" || g.sessionTimeout == 0 {
		return nil
	}

	var stale []staleMember
	for _, m := range desc.Members {
		last := g.settled
		if t := g.lastRequest[m.MemberID]; t.After(last) {
			last = t
		}
		if silent := now.Sub(last); silent > g.sessionTimeout {
			stale = append(stale, staleMember{id: m.MemberID, silent: silent})
		}
	}
	return stale
}

// leave sends a LeaveGroup for the stale members, which makes kfake drop
// them and rebalance the group.
func (r *groupReaper) leave(ctx context.Context, group string, stale []staleMember) {
	req := &kafkago.LeaveGroupRequest{GroupID: group}
	for _, m := range stale {
		req.Members = append(req.Members, kafkago.LeaveGroupRequestMember{ID: m.id})
	}
	resp, err := r.client.LeaveGroup(ctx, req)
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("remove stale consumer group members failed", "group", group, "members", len(stale), "error", err)
		}
		return
	}
	failed := map[string]error{}
	for _, m := range resp.Members {
		if m.Error != nil {
			failed[m.ID] = m.Error
		}
	}
	for _, m := range stale {
		switch err := failed[m.id]; {
		case err == nil:
			r.logger.Warn("removed consumer group member that missed its session timeout",
				"group", group, "member", m.id, "silent", m.silent.Round(time.Millisecond))
		case errors.Is(err, kafkago.UnknownMemberId):
			// The member left or expired since the description.
		default:
			r.logger.Warn("remove stale consumer group member failed", "group", group, "member", m.id, "error", err)
		}
	}
}
