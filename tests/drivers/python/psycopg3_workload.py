"""psycopg 3 workload (tests/drivers_test.go), autocommit with explicit transactions.

WORKLOAD_VARIANT is a comma-separated list:
  threshold=N     prepare_threshold=N: server-side prepared statements (named _pg3_N) from the Nth
                  execution of a query on a connection; psycopg's default is 5, 0 prepares at once
  threshold=none  prepare_threshold=None: never prepare (what PgBouncer's documentation recommends)
  pipeline        the repeated queries and the transaction go through pipeline mode
"""

import psycopg
import psycopg.errors

from workload import ADD, COUNT, INSERT, INSERTS, QUERIES, ROUNDS, VARIANT, conninfo, expect, run_threads

options = {}
pipeline = False
for part in filter(None, VARIANT.split(",")):
    if part == "pipeline":
        pipeline = True
    elif part.startswith("threshold="):
        v = part.split("=", 1)[1]
        options["prepare_threshold"] = None if v == "none" else int(v)
    else:
        raise SystemExit("unknown variant " + part)


def queries(conn, w):
    if pipeline:
        with conn.pipeline():
            curs = [(i, conn.execute(ADD, (i, w))) for i in range(QUERIES)]
        for i, cur in curs:
            expect("sum", cur.fetchone()[0], i + w)
    else:
        for i in range(QUERIES):
            expect("sum", conn.execute(ADD, (i, w)).fetchone()[0], i + w)


def transaction(conn, w, r):
    if pipeline:
        with conn.pipeline(), conn.transaction():
            for k in range(INSERTS):
                conn.execute(INSERT, (w, r, k))
            cur = conn.execute(COUNT, (w, r))
        expect("rows seen in the transaction", cur.fetchone()[0], INSERTS)
    else:
        with conn.transaction():
            for k in range(INSERTS):
                conn.execute(INSERT, (w, r, k))
            expect("rows seen in the transaction", conn.execute(COUNT, (w, r)).fetchone()[0], INSERTS)


def worker(w, counts):
    with psycopg.connect(autocommit=True, **options, **conninfo()) as conn:
        for r in range(ROUNDS):
            queries(conn, w)
            counts.add(queries=QUERIES)
            transaction(conn, w, r)
            counts.add(transactions=1, rows=INSERTS)
            try:
                conn.execute("SELECT 1/0")
                raise AssertionError("SELECT 1/0 did not fail")
            except psycopg.errors.DivisionByZero:
                pass
            got = conn.execute("SELECT %s || ' after the error'", ("worker %d" % w,)).fetchone()[0]
            expect("query after the error", got, "worker %d after the error" % w)
            counts.add(errors=1)


if __name__ == "__main__":
    run_threads(worker)
