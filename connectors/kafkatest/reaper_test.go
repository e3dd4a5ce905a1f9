package kafkatest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn sends Kafka requests of non-flexible versions over one TCP
// connection, so that a test controls which connection a group member uses
// and when that connection closes.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial broker %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn}
}

// send writes req with a version 1 request header and returns without
// waiting for the response.
func (c *rawConn) send(req kmsg.Request) {
	c.t.Helper()
	if req.IsFlexible() {
		c.t.Fatalf("request key %d version %d is flexible; rawConn sends only non-flexible versions", req.Key(), req.GetVersion())
	}
	c.corr++
	clientID := "kafkatest"
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(c.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(clientID)))
	buf = append(buf, clientID...)
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	if err := c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatalf("set write deadline: %v", err)
	}
	if _, err := c.conn.Write(buf); err != nil {
		c.t.Fatalf("write request key %d: %v", req.Key(), err)
	}
}

// call sends req and reads its response. JoinGroup responses may take up to
// the group's rebalance timeout.
func (c *rawConn) call(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.send(req)
	if err := c.conn.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		c.t.Fatalf("set read deadline: %v", err)
	}
	var header [8]byte
	if _, err := io.ReadFull(c.conn, header[:]); err != nil {
		c.t.Fatalf("read response header of request key %d: %v", req.Key(), err)
	}
	if corr := int32(binary.BigEndian.Uint32(header[4:])); corr != c.corr {
		c.t.Fatalf("response correlation id = %d, want %d", corr, c.corr)
	}
	body := make([]byte, binary.BigEndian.Uint32(header[:4])-4)
	if _, err := io.ReadFull(c.conn, body); err != nil {
		c.t.Fatalf("read response body of request key %d: %v", req.Key(), err)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode response of request key %d: %v", req.Key(), err)
	}
	return resp
}

const (
	reaperTestSession = 2 * time.Second
	// reaperTestRebalance is shorter than the session timeout because
	// kfake keeps a rejoining member's session timer running while its
	// JoinGroup waits for the rebalance.
	reaperTestRebalance = time.Second
)

// joinRequest is a JoinGroup v2, the highest version kafka-go sends. At
// that version a join with no member id adds the member at once.
func joinRequest(group, memberID string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 2
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = int32(reaperTestSession / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(reaperTestRebalance / time.Millisecond)
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"readings"}
	protocol := kmsg.NewJoinGroupRequestProtocol()
	protocol.Name = "range"
	protocol.Metadata = meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, protocol)
	return req
}

// member is a live group member that the test drives by hand.
type member struct {
	conn       *rawConn
	group      string
	id         string
	generation int32
}

// join joins or rejoins the group and, as its leader, assigns partition 0
// to itself and nothing to the other members. It returns the members of the
// new generation.
func (m *member) join(t *testing.T) []string {
	t.Helper()
	join := m.conn.call(joinRequest(m.group, m.id)).(*kmsg.JoinGroupResponse)
	if err := kerr.ErrorForCode(join.ErrorCode); err != nil {
		t.Fatalf("join group %s as %q: %v", m.group, m.id, err)
	}
	m.id = join.MemberID
	m.generation = join.Generation
	if join.LeaderID != m.id {
		t.Fatalf("group %s leader = %s, want the live member %s", m.group, join.LeaderID, m.id)
	}

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 1
	sync.Group = m.group
	sync.MemberID = m.id
	sync.Generation = m.generation
	var joined []string
	for _, other := range join.Members {
		joined = append(joined, other.MemberID)
		assignment := kmsg.NewConsumerMemberAssignment()
		if other.MemberID == m.id {
			topic := kmsg.NewConsumerMemberAssignmentTopic()
			topic.Topic = "readings"
			topic.Partitions = []int32{0}
			assignment.Topics = append(assignment.Topics, topic)
		}
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = other.MemberID
		a.MemberAssignment = assignment.AppendTo(nil)
		sync.GroupAssignment = append(sync.GroupAssignment, a)
	}

	resp := m.conn.call(sync).(*kmsg.SyncGroupResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("sync group %s generation %d: %v", m.group, m.generation, err)
	}
	return joined
}

// heartbeat returns the heartbeat's error, nil when the member is current.
func (m *member) heartbeat() error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 1
	req.Group = m.group
	req.MemberID = m.id
	req.Generation = m.generation
	return kerr.ErrorForCode(m.conn.call(req).(*kmsg.HeartbeatResponse).ErrorCode)
}

// describeGroup returns the group's state and sorted member ids.
func describeGroup(t *testing.T, conn *rawConn, group string) (string, []string) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp := conn.call(req).(*kmsg.DescribeGroupsResponse)
	if len(resp.Groups) != 1 {
		t.Fatalf("describe group %s returned %d groups, want 1", group, len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.MemberID)
	}
	sort.Strings(ids)
	return g.State, ids
}

// joinWithDeadMember makes a group whose live member leads a Stable
// generation that also contains a member whose connection closed while its
// JoinGroup waited for the rebalance.
func joinWithDeadMember(t *testing.T, addr, group string, admin *rawConn) *member {
	t.Helper()
	live := &member{conn: dialRaw(t, addr), group: group}
	if joined := live.join(t); len(joined) != 1 {
		t.Fatalf("group %s first generation has %d members, want 1", group, len(joined))
	}

	// The dead member's join starts a rebalance that waits for the live
	// member to rejoin.
	dead := dialRaw(t, addr)
	dead.send(joinRequest(group, ""))
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, ids := describeGroup(t, admin, group)
		if state == "PreparingRebalance" && len(ids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %s with %d members, want PreparingRebalance with 2", group, state, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	dead.conn.Close()
	// Give kfake time to notice the closed connection, so that the join
	// response goes to a connection it has marked closed.
	time.Sleep(100 * time.Millisecond)

	// The live member's rejoin completes the rebalance with both members,
	// and its sync makes the group Stable.
	if joined := live.join(t); len(joined) != 2 {
		t.Fatalf("group %s second generation has %d members, want 2", group, len(joined))
	}
	return live
}

// A member whose connection closes while its JoinGroup waits for a
// rebalance gets no session timer in kfake. Its JoinGroup response is either
// dropped, which leaves the member in the group for good, or buffered, which
// starts its timer, and a Go select between the closed connection and the
// response buffer picks one at random. So without the reaper all five groups
// lose their dead member in an estimated one run in 32.
func TestReaperRemovesMembersLostMidRebalance(t *testing.T) {
	b, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	for i := range 5 {
		group := fmt.Sprintf("reaper-test-%d", i)
		t.Run(group, func(t *testing.T) {
			t.Parallel()
			admin := dialRaw(t, b.Addr())
			live := joinWithDeadMember(t, b.Addr(), group, admin)
			const wait = 20 * time.Second
			deadline := time.Now().Add(wait)
			for {
				switch err := live.heartbeat(); {
				case err == nil:
				case errors.Is(err, kerr.RebalanceInProgress):
					live.join(t)
				default:
					t.Fatalf("heartbeat of the live member: %v", err)
				}
				state, ids := describeGroup(t, admin, group)
				if state == "Stable" && len(ids) == 1 {
					if ids[0] != live.id {
						t.Fatalf("remaining member = %s, want the live member %s", ids[0], live.id)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("group is %s with members %v %s after its dead member closed its connection, want only %s",
						state, ids, wait, live.id)
				}
				time.Sleep(reaperTestSession / 4)
			}
		})
	}
}
