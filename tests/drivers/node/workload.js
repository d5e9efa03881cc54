// node-postgres workload of tests/drivers_test.go (see ../python/workload.py for the shape of it).
// WORKLOAD_VARIANT "named" gives every query a name ({name, text, values}): node-postgres then prepares
// it once per connection as a named server-side statement and later only binds and executes it.
'use strict';

const { Client } = require('pg');

const env = process.env;
const TABLE = env.WORKLOAD_TABLE;
const WORKERS = Number(env.WORKLOAD_WORKERS || 8);
const ROUNDS = Number(env.WORKLOAD_ROUNDS || 3);
const QUERIES = Number(env.WORKLOAD_QUERIES || 10);
const INSERTS = Number(env.WORKLOAD_INSERTS || 3);
const VARIANT = env.WORKLOAD_VARIANT || '';
if (VARIANT !== '' && VARIANT !== 'named') {
  console.error(`unknown variant ${VARIANT}`);
  process.exit(2);
}

function q(name, text, values) {
  return VARIANT === 'named' ? { name, text, values } : { text, values };
}

function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

const counts = { queries: 0, transactions: 0, errors: 0, rows: 0 };
let failure = null;

async function worker(w) {
  const client = new Client({
    host: env.PGHOST,
    port: Number(env.PGPORT),
    user: env.PGUSER,
    password: env.PGPASSWORD,
    database: env.PGDATABASE,
  });
  await client.connect();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < QUERIES; i++) {
        const res = await client.query(q('add', 'SELECT $1::int + $2::int AS s', [i, w]));
        expect('sum', res.rows[0].s, i + w);
      }
      counts.queries += QUERIES;

      await client.query('BEGIN');
      try {
        for (let k = 0; k < INSERTS; k++) {
          await client.query(q('insert', `INSERT INTO ${TABLE} (worker, round, k) VALUES ($1, $2, $3)`, [w, r, k]));
        }
        const res = await client.query(q('count', `SELECT count(*)::int AS n FROM ${TABLE} WHERE worker = $1 AND round = $2`, [w, r]));
        expect('rows seen in the transaction', res.rows[0].n, INSERTS);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
      counts.transactions++;
      counts.rows += INSERTS;

      let failed = false;
      try {
        await client.query('SELECT 1/0');
      } catch (e) {
        if (e.code !== '22012') throw e;
        failed = true;
      }
      if (!failed) throw new Error('SELECT 1/0 did not fail');
      const res = await client.query(q('after', "SELECT $1::text || ' after the error' AS s", [`worker ${w}`]));
      expect('query after the error', res.rows[0].s, `worker ${w} after the error`);
      counts.errors++;
    }
  } finally {
    await client.end();
  }
}

async function main() {
  await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      worker(w).catch((e) => {
        if (failure === null) {
          const msg = String(e.message).replace(/\s+/g, ' ');
          failure = `error: worker ${w}: SQLSTATE ${e.code || '-'}: ${msg}`;
        }
      }),
    ),
  );
  if (failure !== null) {
    console.error(failure);
    process.exit(1);
  }
  console.log(`ok queries=${counts.queries} transactions=${counts.transactions} errors=${counts.errors} rows=${counts.rows}`);
}

main();
