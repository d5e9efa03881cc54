# ruby-pg workload of tests/drivers_test.go (see ../python/workload.py for the shape of it).
# WORKLOAD_VARIANT "prepared": the queries are prepared once per connection (PG::Connection#prepare,
# named server-side statements) and run with exec_prepared; otherwise exec_params (unnamed statements).
require 'pg'

TABLE = ENV.fetch('WORKLOAD_TABLE')
WORKERS = Integer(ENV.fetch('WORKLOAD_WORKERS', '8'))
ROUNDS = Integer(ENV.fetch('WORKLOAD_ROUNDS', '3'))
QUERIES = Integer(ENV.fetch('WORKLOAD_QUERIES', '10'))
INSERTS = Integer(ENV.fetch('WORKLOAD_INSERTS', '3'))
VARIANT = ENV.fetch('WORKLOAD_VARIANT', '')
abort "unknown variant #{VARIANT}" unless ['', 'prepared'].include?(VARIANT)
PREPARED = VARIANT == 'prepared'

SQL = {
  'add' => 'SELECT $1::int + $2::int',
  'insert' => "INSERT INTO #{TABLE} (worker, round, k) VALUES ($1, $2, $3)",
  'count' => "SELECT count(*) FROM #{TABLE} WHERE worker = $1 AND round = $2",
  'after' => "SELECT $1::text || ' after the error'",
}.freeze

$lock = Mutex.new
$counts = Hash.new(0)
$failure = nil

def count(key, n)
  $lock.synchronize { $counts[key] += n }
end

def expect(what, got, want)
  raise "#{what}: got #{got.inspect}, want #{want.inspect}" unless got == want
end

def run(conn, name, params)
  res = PREPARED ? conn.exec_prepared(name, params) : conn.exec_params(SQL.fetch(name), params)
  res.getvalue(0, 0) if res.ntuples > 0
end

def worker(w)
  conn = PG.connect(host: ENV.fetch('PGHOST'), port: ENV.fetch('PGPORT'), user: ENV.fetch('PGUSER'),
                    password: ENV.fetch('PGPASSWORD'), dbname: ENV.fetch('PGDATABASE'))
  begin
    SQL.each { |name, sql| conn.prepare(name, sql) } if PREPARED
    ROUNDS.times do |r|
      QUERIES.times { |i| expect('sum', run(conn, 'add', [i, w]).to_i, i + w) }
      count(:queries, QUERIES)

      conn.transaction do
        INSERTS.times { |k| run(conn, 'insert', [w, r, k]) }
        expect('rows seen in the transaction', run(conn, 'count', [w, r]).to_i, INSERTS)
      end
      count(:transactions, 1)
      count(:rows, INSERTS)

      begin
        conn.exec('SELECT 1/0')
        raise 'SELECT 1/0 did not fail'
      rescue PG::DivisionByZero
        nil
      end
      expect('query after the error', run(conn, 'after', ["worker #{w}"]), "worker #{w} after the error")
      count(:errors, 1)
    end
  ensure
    conn.close
  end
end

threads = Array.new(WORKERS) do |w|
  Thread.new do
    worker(w)
  rescue StandardError => e
    state = e.respond_to?(:result) && e.result ? e.result.error_field(PG::PG_DIAG_SQLSTATE) : '-'
    $lock.synchronize do
      $failure ||= "error: worker #{w}: SQLSTATE #{state}: #{e.class}: #{e.message.split.join(' ')}"
    end
  end
end
threads.each(&:join)
if $failure
  warn $failure
  exit 1
end
puts "ok queries=#{$counts[:queries]} transactions=#{$counts[:transactions]} errors=#{$counts[:errors]} rows=#{$counts[:rows]}"
