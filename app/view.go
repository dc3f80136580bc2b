package app

import (
	"strconv"

	"github.com/ticketstream/ticketstream/domain"
)

// view is what one dashboard holds: the ids of its tickets, each with the
// status and team it is counted under, and the counts by status and team.
// The core keeps it so that it can tell which dashboards hold a ticket (a
// removal goes only to them) and push counts that describe exactly what a
// dashboard shows. It is not safe for concurrent use: its Subscription's
// lock guards it.
type view struct {
	held   heldSet
	total  int
	status [len(statusOrder)]int
	teams  []viewTeam        // by team number
	teamOf map[string]uint32 // JSON-escaped team name → team number, once there are many
	// teamBytes is the length of every team name held, for the memory
	// budget: a claim's names are the client's.
	teamBytes int

	dirtyStatus uint8    // bit i: status i changed since the last counts sent
	dirtyTeams  []uint32 // teams whose count changed since the last counts sent

	// digest is the held digest of what the view holds (domain.HeldDigest)
	// under digester; nil keeps none.
	digester *domain.HeldDigester
	digest   domain.HeldDigest
	scratch  [16]byte // the digester's
}

// viewTeam is one team's count; name is JSON-escaped, ready to write, and
// tag its domain.TeamTag when the view keeps a digest.
type viewTeam struct {
	name  string
	tag   uint64
	count int
	dirty bool
}

// term is the digest term of ticket id held in bucket.
func (v *view) term(id int64, bucket uint32) domain.HeldDigest {
	return v.digester.Term(&v.scratch, id, uint8(bucket&(1<<statusBits-1)), v.teams[bucket>>statusBits].tag)
}

// statusOrder numbers the statuses for buckets and counts.
var statusOrder = [...]domain.Status{domain.StatusNew, domain.StatusOpen, domain.StatusPending, domain.StatusOnHold, domain.StatusSolved, domain.StatusClosed}

const statusBits = 3

// statusNumber returns s's number in statusOrder; an unknown status (the
// domain refuses them) counts as the first.
func statusNumber(s domain.Status) uint8 {
	for i, name := range statusOrder {
		if s == name {
			return uint8(i)
		}
	}
	return 0
}

// has reports whether the dashboard holds ticket id.
func (v *view) has(id int64) bool {
	_, ok := v.held.Get(id)
	return ok
}

// put holds ticket id under status and the JSON-escaped team, moving it out
// of the buckets it was counted under.
func (v *view) put(id int64, status uint8, team []byte) {
	t := v.teamNumber(team)
	bucket := t<<statusBits | uint32(status)
	old, held := v.held.Get(id)
	if held && old == bucket {
		return // the usual change: neither status nor team moved
	}
	if held {
		v.uncount(old)
	} else {
		v.total++
	}
	v.held.Put(id, bucket)
	v.count(bucket, 1)
	if v.digester != nil {
		if held {
			v.digest = v.digest.Xor(v.term(id, old))
		}
		v.digest = v.digest.Xor(v.term(id, bucket))
	}
}

// scanTeams: a view of up to this many teams finds a team by looking
// through them; a map costs an idle dashboard more than the scan costs.
const scanTeams = 8

// teamNumber returns the number of the JSON-escaped team name, adding it.
func (v *view) teamNumber(team []byte) uint32 {
	if v.teamOf != nil {
		if t, ok := v.teamOf[string(team)]; ok {
			return t
		}
	} else {
		for i := range v.teams {
			if v.teams[i].name == string(team) {
				return uint32(i)
			}
		}
	}
	t := uint32(len(v.teams))
	v.teamBytes += len(team)
	vt := viewTeam{name: string(team)}
	if v.digester != nil {
		vt.tag = domain.TeamTag(team)
	}
	v.teams = append(v.teams, vt)
	if len(v.teams) > scanTeams {
		if v.teamOf == nil {
			v.teamOf = make(map[string]uint32, 2*len(v.teams))
			for i := range v.teams {
				v.teamOf[v.teams[i].name] = uint32(i)
			}
		}
		v.teamOf[v.teams[t].name] = t
	}
	return t
}

// markTeam adds the JSON-escaped team name, counted 0 and marked changed,
// so that the next counts name it.
func (v *view) markTeam(team string) {
	t := v.teamNumber([]byte(team))
	if tm := &v.teams[t]; !tm.dirty {
		tm.dirty = true
		v.dirtyTeams = append(v.dirtyTeams, t)
	}
}

// remove stops holding ticket id, if it was held.
func (v *view) remove(id int64) {
	old, held := v.held.Get(id)
	if !held {
		return
	}
	v.held.Delete(id)
	v.total--
	v.uncount(old)
	if v.digester != nil {
		v.digest = v.digest.Xor(v.term(id, old))
	}
}

func (v *view) uncount(bucket uint32) { v.count(bucket, -1) }

func (v *view) count(bucket uint32, delta int) {
	s, t := bucket&(1<<statusBits-1), bucket>>statusBits
	v.status[s] += delta
	v.dirtyStatus |= 1 << s
	team := &v.teams[t]
	team.count += delta
	if !team.dirty {
		team.dirty = true
		v.dirtyTeams = append(v.dirtyTeams, t)
	}
}

// changed reports whether any count changed since the last appendCounts.
func (v *view) changed() bool { return v.dirtyStatus != 0 || len(v.dirtyTeams) > 0 }

// appendCounts appends the counts object, {"total":…,"status":{…},
// "team":{…}}: every status and every team holding tickets if all, else only
// the counts changed since the last call (a team that emptied shows as 0).
// It clears the changes.
func (v *view) appendCounts(dst []byte, all bool) []byte {
	dst = append(dst, `{"total":`...)
	dst = strconv.AppendInt(dst, int64(v.total), 10)
	dst = append(dst, `,"status":{`...)
	n := 0
	for i, name := range statusOrder {
		if all || v.dirtyStatus&(1<<i) != 0 {
			dst = appendCount(dst, n, string(name), v.status[i])
			n++
		}
	}
	dst = append(dst, `},"team":{`...)
	n = 0
	if all {
		for _, t := range v.teams {
			if t.count > 0 {
				dst = appendCount(dst, n, t.name, t.count)
				n++
			}
		}
	} else {
		for _, i := range v.dirtyTeams {
			t := &v.teams[i]
			dst = appendCount(dst, n, t.name, t.count)
			n++
		}
	}
	for _, i := range v.dirtyTeams {
		v.teams[i].dirty = false
	}
	v.dirtyStatus, v.dirtyTeams = 0, v.dirtyTeams[:0]
	if cap(v.dirtyTeams) > 64 {
		v.dirtyTeams = nil // a burst over many teams is not kept for the socket's life
	}
	return append(dst, "}}"...)
}

// appendCount appends "name":count to a JSON object that already holds
// before members. name is written as it is: already JSON-escaped.
func appendCount(dst []byte, before int, name string, count int) []byte {
	if before > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return strconv.AppendInt(dst, int64(count), 10)
}

// memory estimates what v keeps: its table of ids and its teams.
func (v *view) memory() int64 {
	m := 8*int64(len(v.held.slots)) + 48*int64(len(v.held.big)) + int64(v.teamBytes) + 48*int64(len(v.teams))
	if v.teamOf != nil {
		m += 64 * int64(len(v.teamOf)) // the map's entries, and the key's header
	}
	return m
}
