"""psycopg2 workload (tests/drivers_test.go): client-side parameters, the simple query protocol, and
psycopg2's default of an implicit transaction ended by commit() or rollback()."""

import psycopg2
import psycopg2.errors

from workload import ADD, COUNT, INSERT, INSERTS, QUERIES, ROUNDS, conninfo, expect, run_threads


def worker(w, counts):
    conn = psycopg2.connect(**conninfo())
    try:
        for r in range(ROUNDS):
            with conn.cursor() as cur:
                for i in range(QUERIES):
                    cur.execute(ADD, (i, w))
                    expect("sum", cur.fetchone()[0], i + w)
            conn.commit()
            counts.add(queries=QUERIES)

            with conn.cursor() as cur:
                for k in range(INSERTS):
                    cur.execute(INSERT, (w, r, k))
                cur.execute(COUNT, (w, r))
                expect("rows seen in the transaction", cur.fetchone()[0], INSERTS)
            conn.commit()
            counts.add(transactions=1, rows=INSERTS)

            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1/0")
                raise AssertionError("SELECT 1/0 did not fail")
            except psycopg2.errors.DivisionByZero:
                conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT %s || ' after the error'", ("worker %d" % w,))
                expect("query after the error", cur.fetchone()[0], "worker %d after the error" % w)
            conn.commit()
            counts.add(errors=1)
    finally:
        conn.close()


if __name__ == "__main__":
    run_threads(worker)
