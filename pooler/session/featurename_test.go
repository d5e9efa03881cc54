package session

import "testing"

// TestMayUseFeatureWords: the quick test looks for whole words, so that common column and table names
// that contain a feature's keyword do not make the relay run FindFeature, and allocates nothing.
func TestMayUseFeatureWords(t *testing.T) {
	for _, q := range []string{
		"SELECT payload, threshold, template, holder, listener, download FROM t WHERE temperature > $1",
		"UPDATE jobs SET upload_at = now(), pg_temp_x = 1, tempo = 2, holds = 3, loaded = true",
	} {
		if MayUseFeature([]byte(q)) {
			t.Errorf("MayUseFeature(%q) = true: no feature's word in it", q)
		}
	}
	for _, q := range []string{"listen x", "x;LISTEN y", "create TEMP table t()", "create temporary table t()", "declare c cursor with\nhold for select 1", "LOAD 'x'", "select pg_advisory_lock(1)"} {
		if !MayUseFeature([]byte(q)) {
			t.Errorf("MayUseFeature(%q) = false", q)
		}
	}
	q := []byte("SELECT payload, threshold FROM t WHERE template = $1")
	if n := testing.AllocsPerRun(100, func() { MayUseFeature(q) }); n != 0 {
		t.Errorf("MayUseFeature allocates %v times", n)
	}
}

// TestFeatureNames: every feature has its own short name.
func TestFeatureNames(t *testing.T) {
	seen := map[string]bool{}
	for f := Feature(0); int(f) < NumFeatures; f++ {
		name := f.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("feature %d: name %q", f, name)
		}
		seen[name] = true
	}
	if Feature(NumFeatures).String() != "unknown" {
		t.Error("a feature out of range has a name")
	}
}
