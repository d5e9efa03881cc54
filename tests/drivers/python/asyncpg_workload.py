"""asyncpg workload (tests/drivers_test.go): every query with arguments goes through a prepared
statement, named (__asyncpg_stmt_N__) and cached per connection unless WORKLOAD_VARIANT is
"nocache" (statement_cache_size=0: unnamed statements, what asyncpg documents for PgBouncer)."""

import asyncio
import sys

import asyncpg

from workload import INSERTS, QUERIES, ROUNDS, TABLE, VARIANT, WORKERS, Counts, conninfo, expect

ADD = "SELECT $1::int + $2::int"
INSERT = "INSERT INTO " + TABLE + " (worker, round, k) VALUES ($1, $2, $3)"
COUNT = "SELECT count(*) FROM " + TABLE + " WHERE worker = $1 AND round = $2"

if VARIANT not in ("", "nocache"):
    sys.exit("unknown variant " + VARIANT)


async def worker(w, counts):
    info = conninfo()
    info["database"] = info.pop("dbname")
    if VARIANT == "nocache":
        info["statement_cache_size"] = 0
    conn = await asyncpg.connect(**info)
    try:
        for r in range(ROUNDS):
            for i in range(QUERIES):
                expect("sum", await conn.fetchval(ADD, i, w), i + w)
            counts.add(queries=QUERIES)
            async with conn.transaction():
                for k in range(INSERTS):
                    await conn.execute(INSERT, w, r, k)
                expect("rows seen in the transaction", await conn.fetchval(COUNT, w, r), INSERTS)
            counts.add(transactions=1, rows=INSERTS)
            try:
                await conn.execute("SELECT 1/0")
                raise AssertionError("SELECT 1/0 did not fail")
            except asyncpg.exceptions.DivisionByZeroError:
                pass
            got = await conn.fetchval("SELECT $1::text || ' after the error'", "worker %d" % w)
            expect("query after the error", got, "worker %d after the error" % w)
            counts.add(errors=1)
    finally:
        await conn.close()


async def main():
    counts = Counts()

    async def body(w):
        try:
            await worker(w, counts)
        except Exception as exc:
            counts.fail(w, exc)

    await asyncio.gather(*(body(w) for w in range(WORKERS)))
    counts.finish()


if __name__ == "__main__":
    asyncio.run(main())
