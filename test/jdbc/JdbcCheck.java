import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Driver;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.ServiceLoader;

/**
 * Runs checks against a ClickHouse HTTP endpoint through the ClickHouse JDBC
 * driver with its default settings (only a user and a password given), and
 * prints one JSON line per check on stdout. Run by test/jdbc/jdbc.sh:
 *
 *   java -cp 'test/jdbc/.lib/*' test/jdbc/JdbcCheck.java URL USER PASSWORD CHECK...
 *
 * Each CHECK is its kind and arguments, one per line:
 *   version                     the server version, as DatabaseMetaData reports it
 *   tables SCHEMA               DatabaseMetaData.getTables(null, SCHEMA, "%", null)
 *   columns SCHEMA TABLE        DatabaseMetaData.getColumns(null, SCHEMA, TABLE, "%")
 *   query SQL                   Statement.executeQuery: column names and types, rows as strings
 *   prepared SQL VALUE...       PreparedStatement with each VALUE bound with setString
 *   count SQL                   rows counted and their first column summed as longs, on this side
 *   update SQL                  Statement.executeUpdate (expected to be refused here)
 *   metadata                    DatabaseMetaData's catalogue calls without arguments (schemas, catalogs,
 *                               table types, type info, client info properties): the rows of each
 *   as USER PASSWORD PROPS SQL  a connection of its own with these credentials and driver properties
 *                               (PROPS: name=value pairs joined by '&', or empty), and SQL on it
 *
 * The driver is found as tools find it (DBeaver, DataGrip: by the jar's
 * java.sql.Driver service) and asked to connect; jdbc-v2 does not register
 * itself with DriverManager, so DriverManager.getConnection finds no driver.
 *
 * A check that fails prints its SQLException (class, message, SQL state,
 * vendor code) and the others still run. Exit status: 0 when every check
 * ran (passed or failed), 2 when the first connection failed.
 */
public class JdbcCheck {
    private static final PrintStream OUT = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: JdbcCheck URL USER PASSWORD CHECK...");
            System.exit(64);
        }
        String url = args[0];
        Connection connection;
        long started = System.nanoTime();
        try {
            connection = connect(url, args[1], args[2]);
        } catch (Exception e) {
            OUT.println("{\"check\":\"connect\",\"ok\":false,\"error\":" + error(e) + "}");
            System.exit(2);
            return;
        }
        OUT.println("{\"check\":\"connect\",\"ok\":true,\"ms\":" + (System.nanoTime() - started) / 1_000_000
            + ",\"driver\":" + json(connection.getMetaData().getDriverName() + " " + connection.getMetaData().getDriverVersion()) + "}");
        try (connection) {
            for (int i = 3; i < args.length; i++) {
                String[] check = args[i].split("\n", -1);
                String head = "\"check\":" + (i - 3) + ",\"kind\":" + json(check[0]);
                long start = System.nanoTime();
                try {
                    String result = run(connection, url, check);
                    OUT.println("{" + head + ",\"ok\":true,\"ms\":" + (System.nanoTime() - start) / 1_000_000 + "," + result + "}");
                } catch (Exception e) {
                    OUT.println("{" + head + ",\"ok\":false,\"error\":" + error(e) + "}");
                }
            }
        }
    }

    /** A connection by the first driver of the classpath that takes the URL, given a user, a password and any other properties (all else default). */
    private static Connection connect(String url, String user, String password, String... props) throws SQLException {
        Properties properties = new Properties();
        properties.setProperty("user", user);
        properties.setProperty("password", password);
        for (String prop : props) {
            int eq = prop.indexOf('=');
            if (eq > 0) properties.setProperty(prop.substring(0, eq), prop.substring(eq + 1));
        }
        for (Driver driver : ServiceLoader.load(Driver.class)) {
            if (driver.acceptsURL(url)) return driver.connect(url, properties);
        }
        throw new SQLException("no JDBC driver on the classpath takes " + url);
    }

    private static String run(Connection connection, String url, String[] check) throws SQLException {
        DatabaseMetaData meta = connection.getMetaData();
        switch (check[0]) {
            case "version":
                return "\"product\":" + json(meta.getDatabaseProductName()) + ",\"version\":" + json(meta.getDatabaseProductVersion());
            case "tables":
                try (ResultSet rs = meta.getTables(null, check[1], "%", null)) {
                    return rows(rs, "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE");
                }
            case "columns":
                try (ResultSet rs = meta.getColumns(null, check[1], check[2], "%")) {
                    return rows(rs, "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "ORDINAL_POSITION", "IS_NULLABLE");
                }
            case "query":
                try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(check[1])) {
                    return rows(rs);
                }
            case "prepared":
                try (PreparedStatement statement = connection.prepareStatement(check[1])) {
                    for (int i = 2; i < check.length; i++) statement.setString(i - 1, check[i]);
                    try (ResultSet rs = statement.executeQuery()) {
                        return rows(rs);
                    }
                }
            case "count":
                try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(check[1])) {
                    long rows = 0;
                    long sum = 0;
                    while (rs.next()) {
                        rows++;
                        sum += rs.getLong(1);
                    }
                    return "\"rows\":" + rows + ",\"sum\":" + json(Long.toString(sum));
                }
            case "update":
                try (Statement statement = connection.createStatement()) {
                    return "\"updated\":" + statement.executeUpdate(check[1]);
                }
            case "metadata": {
                StringBuilder out = new StringBuilder("\"counts\":{");
                String[] calls = {"getSchemas", "getCatalogs", "getTableTypes", "getTypeInfo", "getClientInfoProperties"};
                for (int i = 0; i < calls.length; i++) {
                    try (ResultSet rs = (ResultSet) DatabaseMetaData.class.getMethod(calls[i]).invoke(meta)) {
                        int rows = 0;
                        while (rs.next()) rows++;
                        out.append(i == 0 ? "" : ",").append(json(calls[i])).append(":").append(rows);
                    } catch (ReflectiveOperationException e) {
                        Throwable cause = e.getCause() != null ? e.getCause() : e;
                        throw new SQLException(calls[i] + ": " + cause.getMessage(), cause);
                    }
                }
                return out.append("}").toString();
            }
            case "as":
                try (Connection other = connect(url, check[1], check[2], check[3].isEmpty() ? new String[0] : check[3].split("&"));
                     Statement statement = other.createStatement();
                     ResultSet rs = statement.executeQuery(check[4])) {
                    return rows(rs);
                }
            default:
                throw new IllegalArgumentException("unknown check " + check[0] + " (known: version, tables, columns, query, prepared, count, update, metadata, as)");
        }
    }

    /** The named columns of every row (all columns when none are named), as strings, and the columns' labels and type names. */
    private static String rows(ResultSet rs, String... wanted) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        List<String> columns = new ArrayList<>(Arrays.asList(wanted));
        List<String> types = new ArrayList<>();
        if (columns.isEmpty()) {
            for (int i = 1; i <= md.getColumnCount(); i++) {
                columns.add(md.getColumnLabel(i));
                types.add(md.getColumnTypeName(i));
            }
        }
        StringBuilder out = new StringBuilder("\"columns\":").append(jsonList(columns)).append(",\"types\":").append(jsonList(types)).append(",\"rows\":[");
        boolean first = true;
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 0; i < columns.size(); i++) row.add(wanted.length == 0 ? rs.getString(i + 1) : rs.getString(columns.get(i)));
            out.append(first ? "" : ",").append(jsonList(row));
            first = false;
        }
        return out.append("]").toString();
    }

    private static String error(Throwable e) {
        StringBuilder causes = new StringBuilder();
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            causes.append(causes.length() == 0 ? "" : " <- ").append(c.getClass().getName()).append(": ").append(c.getMessage());
        }
        String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : null;
        int code = e instanceof SQLException ? ((SQLException) e).getErrorCode() : 0;
        return "{\"type\":" + json(e.getClass().getName()) + ",\"message\":" + json(e.getMessage()) + ",\"sqlState\":" + json(state)
            + ",\"code\":" + code + ",\"causes\":" + json(causes.toString()) + "}";
    }

    private static String jsonList(List<String> values) {
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) out.append(i == 0 ? "" : ",").append(json(values.get(i)));
        return out.append("]").toString();
    }

    private static String json(String value) {
        if (value == null) return "null";
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
            }
        }
        return out.append("\"").toString();
    }
}
