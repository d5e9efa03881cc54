package pooler

import (
	"container/list"
	"strings"
	"sync"
)

// Bounds of the start-up parameter cache, for the whole Server: entries and bytes (the names, values and
// normalised values, plus paramEntryOverhead each). Past either, the least recently used values are
// forgotten; a forgotten value is tried on a server again at its next login.
const (
	maxParamCacheEntries = 10000
	maxParamCacheBytes   = 4 << 20
	paramEntryOverhead   = 160 // bytes: the map entry, the list element and the entry struct, roughly
)

// paramCache remembers the start-up parameter values that a pool's servers accepted and the value they
// report for each (PostgreSQL normalises some, DateStyle "iso, mdy" to "ISO, MDY"), so that a login with
// values already seen needs no server. It is bounded (maxParamCacheEntries, maxParamCacheBytes), least
// recently used first out, and safe for concurrent use. PgBouncer keeps no such cache: it accepts only the
// parameters it tracks (doc/config.md, ignore_startup_parameters) and sends them to servers unchecked.
type paramCache struct {
	mu    sync.Mutex
	byKey map[paramKey]*list.Element // of *paramEntry
	lru   list.List                  // most recently used at the back
	bytes int64
}

// paramKey is one value of one start-up parameter (lower-case name) for one pool.
type paramKey struct {
	pool        poolKey
	name, value string
}

type paramEntry struct {
	key        paramKey
	normalized string
}

func (e *paramEntry) size() int64 {
	return int64(len(e.key.pool.database) + len(e.key.pool.user) + len(e.key.name) + len(e.key.value) + len(e.normalized) + paramEntryOverhead)
}

// get returns the value pool's servers report for name=value, if it is known to be accepted.
func (pc *paramCache) get(pool poolKey, name, value string) (string, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	el, ok := pc.byKey[paramKey{pool, name, value}]
	if !ok {
		return "", false
	}
	pc.lru.MoveToBack(el)
	return el.Value.(*paramEntry).normalized, true
}

// put records that pool's servers accepted name=value and report it as normalized, forgetting the least
// recently used values beyond the bounds. The strings are copied: they may point into a larger packet.
func (pc *paramCache) put(pool poolKey, name, value, normalized string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	key := paramKey{pool, name, value}
	if el, ok := pc.byKey[key]; ok {
		e := el.Value.(*paramEntry)
		pc.bytes += int64(len(normalized) - len(e.normalized))
		e.normalized = strings.Clone(normalized)
		pc.lru.MoveToBack(el)
	} else {
		e := &paramEntry{
			key: paramKey{
				pool: poolKey{strings.Clone(pool.database), strings.Clone(pool.user)},
				name: strings.Clone(name), value: strings.Clone(value),
			},
			normalized: strings.Clone(normalized),
		}
		if pc.byKey == nil {
			pc.byKey = map[paramKey]*list.Element{}
		}
		pc.byKey[e.key] = pc.lru.PushBack(e)
		pc.bytes += e.size()
	}
	for pc.lru.Len() > 1 && (pc.lru.Len() > maxParamCacheEntries || pc.bytes > maxParamCacheBytes) {
		e := pc.lru.Remove(pc.lru.Front()).(*paramEntry)
		delete(pc.byKey, e.key)
		pc.bytes -= e.size()
	}
}

// clear forgets everything (a reload may have changed what servers accept). The map is dropped rather
// than emptied, so that its buckets do not stay at their largest size.
func (pc *paramCache) clear() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.byKey, pc.bytes = nil, 0
	pc.lru.Init()
}

// size returns how many values the cache holds and the bytes they take (SHOW MEM startup_parameter_cache).
func (pc *paramCache) size() (entries int, bytes int64) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.lru.Len(), pc.bytes
}

// maxAsIsApplicationName is the longest application_name, in bytes, that PostgreSQL keeps as it is: it
// truncates longer ones to NAMEDATALEN - 1 (63 with the default build).
const maxAsIsApplicationName = 63

// acceptedAsIs reports whether value needs no server to know that PostgreSQL accepts it, unchanged, for
// parameter name (lower case): application_name in printable ASCII of at most 63 bytes, which PostgreSQL
// takes as it is (check_application_name, src/backend/commands/variable.c, rewrites only non-ASCII bytes,
// and truncates beyond NAMEDATALEN - 1) and which clients commonly vary per connection, so it is never
// cached either. A longer one is tried on a server, which tells its truncated value.
func acceptedAsIs(name, value string) bool {
	if name != "application_name" || len(value) > maxAsIsApplicationName {
		return false
	}
	for i := 0; i < len(value); i++ {
		if value[i] < 0x20 || value[i] > 0x7e {
			return false
		}
	}
	return true
}
