package pooler

import (
	"strconv"
	"strings"
	"testing"
)

// TestParamCacheBounded: the cache keeps at most maxParamCacheEntries values and maxParamCacheBytes
// bytes, forgetting the least recently used first.
func TestParamCacheBounded(t *testing.T) {
	var pc paramCache
	k := poolKey{"db", "user"}
	for i := range 3 * maxParamCacheEntries {
		pc.put(k, "search_path", strconv.Itoa(i), strconv.Itoa(i))
		if i == 10 {
			pc.get(k, "search_path", "0") // recently used: outlives the others put before it
		}
	}
	if n, b := pc.size(); n != maxParamCacheEntries || b > maxParamCacheBytes {
		t.Fatalf("after %d small values: %d entries, %d bytes; want %d entries within %d bytes", 3*maxParamCacheEntries, n, b, maxParamCacheEntries, maxParamCacheBytes)
	}
	if _, ok := pc.get(k, "search_path", "1"); ok {
		t.Fatal("the least recently used value is still there")
	}
	if nv, ok := pc.get(k, "search_path", strconv.Itoa(3*maxParamCacheEntries-1)); !ok || nv != strconv.Itoa(3*maxParamCacheEntries-1) {
		t.Fatalf("the newest value: %q, %v", nv, ok)
	}

	pc.clear()
	big := strings.Repeat("x", 8000)
	for i := range 2000 {
		pc.put(k, "application_name", strconv.Itoa(i)+big, strconv.Itoa(i)+big)
	}
	n, b := pc.size()
	if b > maxParamCacheBytes || n == 0 {
		t.Fatalf("after 2000 values of 8 kB: %d entries, %d bytes; want some, within %d bytes", n, b, maxParamCacheBytes)
	}
	if _, ok := pc.get(poolKey{"other", "user"}, "application_name", "1999"+big); ok {
		t.Fatal("a value of another pool was found")
	}
}
