// pgJDBC (Debian's libpostgresql-jdbc-java) through a router listener: prints one JSON object of results (the
// test asserts them). The URL sets prepareThreshold=1, so every PreparedStatement is a named server-side statement
// from its first execution (pgJDBC's default of 5 would leave the first four unnamed).
// argv: JDBC URL (TLS options included), a second URL (sslmode=require), user, password, a wrong password.
import java.io.StringReader;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class JdbcCheck {
  static final List<String> out = new ArrayList<>();

  static void put(String key, Object value) {
    String v = value == null ? "null" : value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
    out.add("\"" + key + "\":" + v);
  }

  static void putList(String key, Object a, Object b) {
    out.add("\"" + key + "\":[" + a + "," + b + "]");
  }

  static Connection connect(String url, String user, String password) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", user);
    p.setProperty("password", password);
    return DriverManager.getConnection(url, p);
  }

  static long one(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
      r.next();
      return r.getLong(1);
    }
  }

  public static void main(String[] args) throws Exception {
    String url = args[0], requireUrl = args[1], user = args[2], password = args[3], wrong = args[4];
    try (Connection c = connect(url, user, password)) {
      put("version", c.getMetaData().getDatabaseMajorVersion());
      try (PreparedStatement ps = c.prepareStatement("select ?::int + ?::int")) {
        ps.setInt(1, 20);
        ps.setInt(2, 22);
        try (ResultSet r = ps.executeQuery()) {
          r.next();
          put("param", r.getInt(1));
        }
      }
      // One PreparedStatement executed 30 times, each in its own transaction: a named statement reused across them.
      c.setAutoCommit(false);
      long total = 0;
      try (PreparedStatement ps = c.prepareStatement("select ?::int * 2 as jdbc_doubled")) {
        for (int i = 0; i < 30; i++) {
          ps.setInt(1, i);
          try (ResultSet r = ps.executeQuery()) {
            r.next();
            total += r.getInt(1);
          }
          c.commit();
        }
      }
      put("prepared_sum", total);
      // COPY in and out with CopyManager, inside one transaction (the temp table lives only there).
      CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
      try (Statement s = c.createStatement()) {
        s.execute("create temp table t_copy (a int, b text) on commit drop");
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < 1000; i++) rows.append(i).append('\t').append("row ").append(i).append('\n');
        long in = copy.copyIn("copy t_copy (a, b) from stdin", new StringReader(rows.toString()));
        try (ResultSet r = s.executeQuery("select count(*), sum(a) from t_copy")) {
          r.next();
          putList("copy_in", in, r.getLong(2));
        }
        StringWriter w = new StringWriter();
        copy.copyOut("copy (select a, b from t_copy order by a) to stdout", w);
        put("copy_out", w.toString().split("\n").length);
      }
      c.commit();
      // An error inside a transaction, its rollback, then a next transaction on the same connection.
      try (PreparedStatement ps = c.prepareStatement("select 1 / ?::int")) {
        one(c, "select 1");
        ps.setInt(1, 0);
        ps.executeQuery().close();
        put("error", null);
      } catch (SQLException e) {
        put("error", e.getSQLState());
        c.rollback();
      }
      try (PreparedStatement ps = c.prepareStatement("select ?::text")) {
        ps.setString(1, "after");
        try (ResultSet r = ps.executeQuery()) {
          r.next();
          put("after_error", r.getString(1));
        }
      }
      c.commit();
      // A large parameter: 1 MB of text there and back.
      String big = "x".repeat(1024 * 1024);
      try (PreparedStatement ps = c.prepareStatement("select length(?::text), md5(?::text) = md5(repeat('x', 1048576))")) {
        ps.setString(1, big);
        ps.setString(2, big);
        try (ResultSet r = ps.executeQuery()) {
          r.next();
          putList("large", r.getInt(1), r.getBoolean(2));
        }
      }
      c.commit();
      // Statement.cancel from another thread while pg_sleep(30) runs: pgJDBC sends a CancelRequest on a new connection.
      try (Statement s = c.createStatement()) {
        Thread canceller = new Thread(() -> {
          try {
            Thread.sleep(1000);
            s.cancel();
          } catch (Exception e) {
            throw new RuntimeException(e);
          }
        });
        long t0 = System.nanoTime();
        canceller.start();
        try {
          s.execute("select pg_sleep(30)");
          put("cancel", null);
        } catch (SQLException e) {
          put("cancel", e.getSQLState());
          c.rollback();
        }
        put("cancel_seconds", (System.nanoTime() - t0) / 1e9);
        canceller.join();
      }
      put("after_cancel", one(c, "select 7"));
      c.commit();
    }
    try (Connection c = connect(requireUrl, user, password)) {
      put("require", one(c, "select 1"));
    }
    try {
      connect(url, user, wrong).close();
      put("wrong_password", null);
    } catch (SQLException e) {
      put("wrong_password", e.getSQLState());
    }
    System.out.println("{" + String.join(",", out) + "}");
  }
}
