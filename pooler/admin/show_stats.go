package admin

import (
	"slices"
	"strings"

	"github.com/pgpooler/pgpooler/pooler/status"
)

// SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS: the counters per database (PgBouncer
// src/stats.c).

// dbStats is one database's counters and averages.
type dbStats struct {
	name string
	c    status.Counters
	avg  status.Averages
}

// statsByDatabase sums the pools' counters per database, in name order, the console's database (whose
// counters are always zero: its queries reach no server) included, as PgBouncer lists it.
func statsByDatabase(v *view) []dbStats {
	sums := map[string]status.Counters{Database: {}}
	for _, p := range v.Pools {
		sums[p.Database] = sums[p.Database].Add(p.Counters)
	}
	out := make([]dbStats, 0, len(sums))
	for db, c := range sums {
		out = append(out, dbStats{name: db, c: c, avg: v.Averages[db]})
	}
	slices.SortFunc(out, func(a, b dbStats) int { return strings.Compare(a.name, b.name) })
	return out
}

func totalValues(c status.Counters) []any {
	return []any{c.ServerAssignments, c.Xacts, c.Queries, c.Received, c.Sent, c.XactTime, c.QueryTime, c.WaitTime, c.ClientParses, c.ServerParses, c.Binds}
}

func averageValues(a status.Averages) []any {
	return []any{a.ServerAssignments, a.Xacts, a.Queries, a.Received, a.Sent, a.XactTime, a.QueryTime, a.WaitTime, a.ClientParses, a.ServerParses, a.Binds}
}

// showStats: per database, the totals since start and the averages of the last stats_period.
func showStats(v *view) *table {
	t := newTable(statsColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append(append([]any{d.name}, totalValues(d.c)...), averageValues(d.avg)...)...)
	}
	return t
}

func showStatsTotals(v *view) *table {
	t := newTable(statsTotalsColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append([]any{d.name}, totalValues(d.c)...)...)
	}
	return t
}

func showStatsAverages(v *view) *table {
	t := newTable(statsAveragesColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append([]any{d.name}, averageValues(d.avg)...)...)
	}
	return t
}

// showTotals: SHOW STATS over all databases, one value per row, under PgBouncer's row names
// (src/stats.c, show_stat_totals), then pgpooler's own cancel request counts. Rates add up; mean times are the databases' means weighted by their
// rates (the per-period counts are not kept, so this is as exact as the rates are).
func showTotals(v *view) *table {
	var total status.Counters
	var avg status.Averages
	var xact, query, wait weightedMean
	for _, d := range statsByDatabase(v) {
		total = total.Add(d.c)
		a := d.avg
		avg.ServerAssignments += a.ServerAssignments
		avg.Xacts += a.Xacts
		avg.Queries += a.Queries
		avg.Received += a.Received
		avg.Sent += a.Sent
		avg.ClientParses += a.ClientParses
		avg.ServerParses += a.ServerParses
		avg.Binds += a.Binds
		xact.add(a.XactTime, a.Xacts)
		query.add(a.QueryTime, a.Queries)
		wait.add(a.WaitTime, a.ServerAssignments)
	}
	avg.XactTime, avg.QueryTime, avg.WaitTime = xact.mean(), query.mean(), wait.mean()
	names := []string{
		"server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes",
		"xact_time", "query_time", "wait_time", "ps_client_parse_count", "ps_server_parse_count", "ps_bind_count",
	}
	t := newTable(totalsColumns)
	for i, v := range totalValues(total) {
		t.add("total_"+names[i], v)
	}
	for i, v := range averageValues(avg) {
		t.add("avg_"+names[i], v)
	}
	// pgpooler's own rows: the CancelRequests since start (CancelCounters).
	c := v.Cancels
	t.add("total_cancel_request_count", c.Received)
	t.add("total_cancel_forwarded_count", c.Forwarded)
	t.add("total_cancel_unknown_key_count", c.UnknownKey)
	t.add("total_cancel_failed_count", c.Failed)
	return t
}

// weightedMean averages means weighted by their rates; a mean whose rate rounded down to 0 weighs 1.
type weightedMean struct{ sum, weight int64 }

func (w *weightedMean) add(mean, rate int64) {
	if mean == 0 && rate == 0 {
		return
	}
	rate = max(rate, 1)
	w.sum += mean * rate
	w.weight += rate
}

func (w *weightedMean) mean() int64 {
	if w.weight == 0 {
		return 0
	}
	return w.sum / w.weight
}
