package wsgateway

import (
	"bytes"
	"strconv"

	"github.com/ticketstream/ticketstream/domain"
)

// tally keeps the per-status and per-team counts of the tickets a
// dashboard holds, so that the server can push them as they change and a
// dashboard never recounts its view. It remembers each held ticket's status
// and team (as the encoded bytes of its name): a change moves the ticket from
// its old bucket to its new one. The writer owns it; it is not safe for
// concurrent use.
type tally struct {
	held   map[int64]bucket
	total  int
	status [len(statusNames)]int
	team   map[string]int

	dirtyStatus uint8 // bit i: status i changed since the last counts sent
	dirtyTeams  map[string]struct{}
	names       map[string]string // interned team names
}

// bucket is where a ticket is counted: its status (index into statusNames)
// and its team's name as encoded in JSON (escapes kept, so that it can be
// written back verbatim).
type bucket struct {
	status uint8
	team   string
}

var statusNames = [...]domain.Status{domain.StatusNew, domain.StatusOpen, domain.StatusPending, domain.StatusOnHold, domain.StatusSolved, domain.StatusClosed}

func statusIndex(s []byte) (uint8, bool) {
	for i, name := range statusNames {
		if string(s) == string(name) {
			return uint8(i), true
		}
	}
	return 0, false
}

// put counts ticket id with the given status and encoded team name, moving
// it out of its old bucket.
func (t *tally) put(id int64, status uint8, team []byte) {
	if t.held == nil {
		t.held, t.team, t.dirtyTeams, t.names = map[int64]bucket{}, map[string]int{}, map[string]struct{}{}, map[string]string{}
	}
	old, held := t.held[id]
	if held && old.status == status && old.team == string(team) {
		return // the usual change: neither status nor team moved
	}
	b := bucket{status: status, team: t.intern(team)}
	if held {
		t.drop(old)
	} else {
		t.total++
	}
	t.held[id] = b
	t.status[b.status]++
	t.team[b.team]++
	t.dirtyStatus |= 1 << b.status
	t.dirtyTeams[b.team] = struct{}{}
}

// intern returns team as a string, shared by every ticket of the team.
func (t *tally) intern(team []byte) string {
	if name, ok := t.names[string(team)]; ok {
		return name
	}
	name := string(team)
	t.names[name] = name
	return name
}

// putRow counts an encoded ticket; it reports false if row is not one.
func (t *tally) putRow(row []byte) bool {
	id, status, team, ok := ticketBucket(row)
	if ok {
		t.put(id, status, team)
	}
	return ok
}

// remove stops counting ticket id, if it was held.
func (t *tally) remove(id int64) {
	old, ok := t.held[id]
	if !ok {
		return
	}
	delete(t.held, id)
	t.total--
	t.drop(old)
}

func (t *tally) drop(b bucket) {
	t.status[b.status]--
	t.team[b.team]--
	t.dirtyStatus |= 1 << b.status
	t.dirtyTeams[b.team] = struct{}{}
	if t.team[b.team] == 0 {
		delete(t.team, b.team)
	}
}

// changed reports whether any count changed since the last appendJSON.
func (t *tally) changed() bool { return t.dirtyStatus != 0 || len(t.dirtyTeams) > 0 }

// eachRow calls fn with each encoded ticket of a comma-joined chunk.
func eachRow(chunk []byte, fn func(row []byte)) {
	for start := 0; start < len(chunk); {
		end := bytes.Index(chunk[start+1:], rowStart)
		if end < 0 {
			end = len(chunk)
		} else {
			end += start + 1
		}
		row := chunk[start:end]
		if start > 0 {
			row = row[1:] // the comma
		}
		fn(row)
		start = end
	}
}

// appendJSON appends the counts object: every bucket if all, else only the
// buckets changed since the last call (a team that emptied shows as 0). It
// clears the changes.
func (t *tally) appendJSON(dst []byte, all bool) []byte {
	dst = append(dst, `{"total":`...)
	dst = strconv.AppendInt(dst, int64(t.total), 10)
	dst = append(dst, `,"status":{`...)
	n := 0
	for i, name := range statusNames {
		if all || t.dirtyStatus&(1<<i) != 0 {
			dst = appendCount(dst, n, string(name), t.status[i])
			n++
		}
	}
	dst = append(dst, `},"team":{`...)
	n = 0
	if all {
		for name, count := range t.team {
			dst = appendCount(dst, n, name, count)
			n++
		}
	} else {
		for name := range t.dirtyTeams {
			dst = appendCount(dst, n, name, t.team[name])
			n++
		}
	}
	t.dirtyStatus = 0
	clear(t.dirtyTeams)
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

// ticketBucket reads the id, status and team of an encoded ticket,
// {"id":…,"team":"…","subject":"…","status":"…",…}, as the core's encoder
// writes it (fields in that order). team keeps its JSON escapes and aliases
// row. ok is false for anything else.
func ticketBucket(row []byte) (id int64, status uint8, team []byte, ok bool) {
	rest, ok := bytes.CutPrefix(row, []byte(`{"id":`))
	if !ok {
		return 0, 0, nil, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		id = id*10 + int64(rest[i]-'0')
		i++
	}
	if rest, ok = bytes.CutPrefix(rest[i:], []byte(`,"team":"`)); !ok {
		return 0, 0, nil, false
	}
	end := stringEnd(rest)
	if end < 0 {
		return 0, 0, nil, false
	}
	team = rest[:end]
	if rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"subject":"`)); !ok {
		return 0, 0, nil, false
	}
	if end = stringEnd(rest); end < 0 {
		return 0, 0, nil, false
	}
	if rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"status":"`)); !ok {
		return 0, 0, nil, false
	}
	if end = stringEnd(rest); end < 0 {
		return 0, 0, nil, false
	}
	status, ok = statusIndex(rest[:end])
	return id, status, team, ok
}

// stringEnd returns the index of the quote that ends the JSON string s
// starts inside of, or -1.
func stringEnd(s []byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped byte
		case '"':
			return i
		}
	}
	return -1
}
