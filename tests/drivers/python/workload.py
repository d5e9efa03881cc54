"""Shared parts of the Python driver workloads of tests/drivers_test.go.

Each workload runs WORKLOAD_WORKERS connections at once. Every worker, WORKLOAD_ROUNDS times: a
parameterised query WORKLOAD_QUERIES times, a transaction of WORKLOAD_INSERTS INSERTs and a SELECT that
must see them, then a division by zero followed by a query that must work. The connection comes from the
libpq environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE); the table from
WORKLOAD_TABLE (worker int, round int, k int). On success it prints one line,
"ok queries=N transactions=N errors=N rows=N"; on the first failure it prints
"error: worker W: SQLSTATE S: message" to standard error and exits 1.
"""

import os
import sys
import threading

TABLE = os.environ["WORKLOAD_TABLE"]
WORKERS = int(os.environ.get("WORKLOAD_WORKERS", "8"))
ROUNDS = int(os.environ.get("WORKLOAD_ROUNDS", "3"))
QUERIES = int(os.environ.get("WORKLOAD_QUERIES", "10"))
INSERTS = int(os.environ.get("WORKLOAD_INSERTS", "3"))
VARIANT = os.environ.get("WORKLOAD_VARIANT", "")

ADD = "SELECT %s::int + %s::int"  # psycopg placeholders; asyncpg uses $1, $2
INSERT = "INSERT INTO " + TABLE + " (worker, round, k) VALUES (%s, %s, %s)"
COUNT = "SELECT count(*) FROM " + TABLE + " WHERE worker = %s AND round = %s"


def conninfo():
    return {
        "host": os.environ["PGHOST"],
        "port": int(os.environ["PGPORT"]),
        "user": os.environ["PGUSER"],
        "password": os.environ["PGPASSWORD"],
        "dbname": os.environ["PGDATABASE"],
    }


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.queries = self.transactions = self.errors = self.rows = 0
        self.failure = None

    def add(self, queries=0, transactions=0, errors=0, rows=0):
        with self.lock:
            self.queries += queries
            self.transactions += transactions
            self.errors += errors
            self.rows += rows

    def fail(self, worker, exc):
        state = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None) or "-"
        msg = " ".join(str(exc).split())
        with self.lock:
            if self.failure is None:
                self.failure = "error: worker %d: SQLSTATE %s: %s: %s" % (worker, state, type(exc).__name__, msg)

    def finish(self):
        if self.failure is not None:
            print(self.failure, file=sys.stderr)
            sys.exit(1)
        print("ok queries=%d transactions=%d errors=%d rows=%d" % (self.queries, self.transactions, self.errors, self.rows))


def expect(what, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def run_threads(worker):
    """Runs worker(w, counts) for every worker in its own thread and reports."""
    counts = Counts()

    def body(w):
        try:
            worker(w, counts)
        except Exception as exc:  # reported once, the first
            counts.fail(w, exc)

    threads = [threading.Thread(target=body, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts.finish()
