// PostgreSQL JDBC workload of tests/drivers_test.go (see ../python/workload.py for the shape of it).
// Run as a single-file program: java -cp /usr/share/java/postgresql.jar Workload.java
// WORKLOAD_VARIANT is the prepareThreshold: 1 makes every PreparedStatement a named server-side
// statement (S_1, S_2, ...) from its first execution, 0 never names one (unnamed statements only).

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public class Workload {
    static final String TABLE = System.getenv("WORKLOAD_TABLE");
    static final int WORKERS = intEnv("WORKLOAD_WORKERS", 8);
    static final int ROUNDS = intEnv("WORKLOAD_ROUNDS", 3);
    static final int QUERIES = intEnv("WORKLOAD_QUERIES", 10);
    static final int INSERTS = intEnv("WORKLOAD_INSERTS", 3);

    static final AtomicInteger queries = new AtomicInteger();
    static final AtomicInteger transactions = new AtomicInteger();
    static final AtomicInteger errors = new AtomicInteger();
    static final AtomicInteger rows = new AtomicInteger();
    static final AtomicReference<String> failure = new AtomicReference<>();

    static int intEnv(String name, int def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : Integer.parseInt(v);
    }

    static void expect(String what, Object got, Object want) {
        if (!got.equals(want)) {
            throw new IllegalStateException(what + ": got " + got + ", want " + want);
        }
    }

    static int intResult(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }

    static void worker(int w, String url, Properties props) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, props)) {
            PreparedStatement add = c.prepareStatement("SELECT ?::int + ?::int");
            PreparedStatement insert = c.prepareStatement("INSERT INTO " + TABLE + " (worker, round, k) VALUES (?, ?, ?)");
            PreparedStatement count = c.prepareStatement("SELECT count(*) FROM " + TABLE + " WHERE worker = ? AND round = ?");
            PreparedStatement after = c.prepareStatement("SELECT ?::text || ' after the error'");
            for (int r = 0; r < ROUNDS; r++) {
                for (int i = 0; i < QUERIES; i++) {
                    add.setInt(1, i);
                    add.setInt(2, w);
                    expect("sum", intResult(add), i + w);
                }
                queries.addAndGet(QUERIES);

                c.setAutoCommit(false);
                try {
                    for (int k = 0; k < INSERTS; k++) {
                        insert.setInt(1, w);
                        insert.setInt(2, r);
                        insert.setInt(3, k);
                        insert.executeUpdate();
                    }
                    count.setInt(1, w);
                    count.setInt(2, r);
                    expect("rows seen in the transaction", intResult(count), INSERTS);
                    c.commit();
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw e;
                } finally {
                    c.setAutoCommit(true);
                }
                transactions.incrementAndGet();
                rows.addAndGet(INSERTS);

                boolean failed = false;
                try (Statement st = c.createStatement()) {
                    st.executeQuery("SELECT 1/0").close();
                } catch (SQLException e) {
                    if (!"22012".equals(e.getSQLState())) {
                        throw e;
                    }
                    failed = true;
                }
                expect("SELECT 1/0 failed", failed, true);
                after.setString(1, "worker " + w);
                try (ResultSet rs = after.executeQuery()) {
                    rs.next();
                    expect("query after the error", rs.getString(1), "worker " + w + " after the error");
                }
                errors.incrementAndGet();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String threshold = System.getenv().getOrDefault("WORKLOAD_VARIANT", "");
        if (threshold.isEmpty()) {
            threshold = "1";
        }
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT") + "/"
                + System.getenv("PGDATABASE") + "?sslmode=disable&prepareThreshold=" + threshold;
        Properties props = new Properties();
        props.setProperty("user", System.getenv("PGUSER"));
        props.setProperty("password", System.getenv("PGPASSWORD"));

        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < WORKERS; w++) {
            final int worker = w;
            Thread t = new Thread(() -> {
                try {
                    worker(worker, url, props);
                } catch (Exception e) {
                    String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : "-";
                    String msg = String.valueOf(e.getMessage()).replaceAll("\\s+", " ");
                    failure.compareAndSet(null, "error: worker " + worker + ": SQLSTATE " + state + ": "
                            + e.getClass().getSimpleName() + ": " + msg);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            System.err.println(failure.get());
            System.exit(1);
        }
        System.out.printf("ok queries=%d transactions=%d errors=%d rows=%d%n", queries.get(), transactions.get(),
                errors.get(), rows.get());
    }
}
