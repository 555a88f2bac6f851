/**
 * `inferledger sql` without --write runs one statement that reads the
 * warehouse and nothing else: no writes of any kind, no table function that
 * reaches files, URLs, other servers or processes, no INTO OUTFILE, no
 * settings, no second statement. Each case runs through the CLI on the real
 * embedded engine and checks that nothing happened, not only the message.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, EXIT } from '../src/cli/main.js';
import { assertReadOnlyAst, ReadOnlyQueryError } from '../src/warehouse/read-only-query.js';
import { tempDir } from './helpers/files.js';
import { TEST_DATA_DIR, uniqueDatabase } from './helpers/warehouse.js';
import { DEFAULT_ANALYST_LIMITS } from '../src/warehouse/warehouse.js';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, ...env } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('inferledger sql without --write', () => {
  const env = { CLICKHOUSE_DATABASE: uniqueDatabase() };
  const dir = tempDir();
  const secret = join(dir, 'secret.txt');
  writeFileSync(secret, 'do-not-read\n');

  it('still answers reads: queries with parameters, CTEs, unions, SHOW, DESCRIBE, EXISTS, EXPLAIN, numbers()', async () => {
    expect(await cli(['migrate'], env)).toMatchObject({ code: EXIT.ok });
    const reads: [string, RegExp][] = [
      ['SELECT {a:UInt8} + 1 AS x', /"x"\n3/],
      ['WITH t AS (SELECT number AS n FROM numbers(3)) SELECT s FROM (SELECT sum(n) AS s FROM t UNION ALL SELECT 10) ORDER BY s', /"s"\n3\n10/],
      ['SHOW TABLES', /billing_line_items/],
      ['DESCRIBE TABLE inference_requests', /request_id/],
      ['EXISTS TABLE cpp_daily', /1/],
      ['EXPLAIN SELECT count() FROM inference_requests_dedup', /explain/],
      ['/* a comment first */\nSELECT count() AS n FROM inference_requests;\n', /"n"\n0/],
      ["SELECT 'INTO OUTFILE file(x)\nSETTINGS readonly=0; DROP TABLE t' AS text", /INTO OUTFILE/],
      ["SELECT 1 AS one SETTINGS join_use_nulls = 1, output_format_csv_crlf_end_of_line = 0, format_csv_delimiter = ','", /"one"\n1/],
    ];
    for (const [sql, expected] of reads) {
      const result = await cli(['sql', sql, '--format', 'csv', '--param', 'a=2'], env);
      expect(result, sql).toMatchObject({ code: EXIT.ok, err: '' });
      expect(result.out, sql).toMatch(expected);
    }
  });

  it.each([
    ['a local file read by a table function', `SELECT * FROM file('${secret}', 'LineAsString')`, /table function file\(\)/],
    ['a local file read by the file() function', `SELECT file('${secret}') AS f`, /function file\(\)/],
    ['a table function in a subquery', `SELECT 1 WHERE 1 IN (SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'x UInt8'))`, /table function url\(\)/],
    ['a table function in a JOIN', `SELECT * FROM numbers(1) AS a JOIN s3('http://127.0.0.1:9/b/k.csv', 'CSV', 'number UInt64') AS b USING number`, /table function s3\(\)/],
    ['another server', "SELECT * FROM remote('127.0.0.1:9000', system.one)", /table function remote\(\)/],
    ['mysql', "SELECT * FROM mysql('127.0.0.1:3306', 'test', 't', 'root', '')", /table function mysql\(\)/],
    ['postgresql', "SELECT * FROM postgresql('127.0.0.1:5432', 'test', 't', 'postgres', '')", /table function postgresql\(\)/],
    ['a process', "SELECT * FROM executable('cat /etc/hostname', 'LineAsString', 'line String')", /table function executable\(\)/],
    ['DESCRIBE of a table function', `DESCRIBE file('${secret}', 'LineAsString')`, /table function file\(\)/],
    ['EXPLAIN of an insert', "EXPLAIN INSERT INTO ingest_runs SELECT * FROM ingest_runs", /EXPLAIN of InsertQuery/],
    ['a setting beyond the query-shaping ones', 'SELECT 1 SETTINGS max_bytes_before_external_sort = 1', /setting max_bytes_before_external_sort/],
    ['a limit lifted', 'SELECT 1 SETTINGS max_memory_usage = 0', /setting max_memory_usage may only tighten its limit/],
    ['such a setting in a subquery', "SELECT * FROM (SELECT 1 SETTINGS allow_introspection_functions = 1) SETTINGS join_use_nulls = 1", /setting allow_introspection_functions/],
    ['a SET statement', 'SET max_threads = 1', /only queries that read/],
    ['USE of another database', 'USE system', /only queries that read/],
    ['an empty query', '  ', /empty/],
    ['a syntax error', 'SELEC 1', /Syntax error/],
  ])('refuses %s', async (_what, sql, reason) => {
    const result = await cli(['sql', sql], env);
    expect(result.code).toBe(EXIT.failed);
    expect(result.err).toMatch(reason);
    expect(result.out).toBe('');
  });

  it('refuses writes of every kind, and none of them happens', async () => {
    const outfile = join(dir, 'out.txt');
    const written = join(dir, 'written.txt');
    const cases: [string, RegExp][] = [
      [`INSERT INTO FUNCTION file('${written}', 'LineAsString') SELECT 'x'`, /only queries that read.*InsertQuery/],
      [`SELECT 1 INTO OUTFILE '${outfile}'`, /INTO OUTFILE/],
      ["INSERT INTO ingest_rejects (source) VALUES ('x')", /only queries that read/],
      ['CREATE TABLE made_here (a UInt8) ENGINE = Memory', /only queries that read/],
      ['DROP TABLE ingest_rejects', /only queries that read/],
      ['TRUNCATE TABLE ingest_rejects', /only queries that read/],
      ['ALTER TABLE ingest_rejects DELETE WHERE 1', /only queries that read/],
      ['OPTIMIZE TABLE ingest_rejects FINAL', /only queries that read/],
      ['SYSTEM DROP MARK CACHE', /only queries that read/],
    ];
    for (const [sql, reason] of cases) {
      const result = await cli(['sql', sql], env);
      expect(result.code, sql).toBe(EXIT.failed);
      expect(result.err, sql).toMatch(reason);
    }
    expect(existsSync(outfile)).toBe(false);
    expect(existsSync(written)).toBe(false);
    const tables = await cli(['sql', "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name IN ('made_here', 'ingest_rejects')", '--format', 'csv'], env);
    expect(tables.out).toBe('"n"\n1');
    expect((await cli(['sql', 'SELECT count() AS n FROM ingest_rejects', '--format', 'csv'], env)).out).toBe('"n"\n0');
  });

  it('refuses a second statement, whatever it is, and runs neither', async () => {
    const written = join(dir, 'second.txt');
    for (const sql of ['SELECT 1; SELECT 2', `SELECT 1; INSERT INTO FUNCTION file('${written}', 'LineAsString') SELECT 'x'`, 'SELECT 1;; DROP TABLE ingest_rejects']) {
      const result = await cli(['sql', sql], env);
      expect(result.code, sql).toBe(EXIT.failed);
      expect(result.err, sql).toMatch(/Multi-statements are not allowed|Syntax error/);
      expect(result.out, sql).toBe('');
    }
    expect(existsSync(written)).toBe(false);
  });

  it('with --write, statements that change data run', async () => {
    const result = await cli(['sql', 'CREATE TABLE made_with_write (a UInt8) ENGINE = Memory', '--write'], env);
    expect(result.code).toBe(EXIT.ok);
    expect((await cli(['sql', 'EXISTS TABLE made_with_write', '--format', 'csv'], env)).out).toMatch(/1$/);
  });
});

describe('the read-only rules on a syntax tree', () => {
  it('allows local table functions and refuses the rest by name', () => {
    const tree = (fn: string): string[] => [
      'SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  SelectQuery (children 2)', '   ExpressionList (children 1)', '    Asterisk',
      '   TablesInSelectQuery (children 1)', '    TablesInSelectQueryElement (children 1)', '     TableExpression (children 1)', `      Function ${fn} (children 1)`,
      '       ExpressionList (children 1)', '        Literal UInt64_10',
    ];
    const context = { database: 'inferledger', limits: DEFAULT_ANALYST_LIMITS };
    const formatted = 'SELECT *\nFROM f(10)';
    expect(() => { assertReadOnlyAst(tree('numbers'), formatted, context); }).not.toThrow();
    expect(() => { assertReadOnlyAst(tree('hdfs'), formatted, context); }).toThrow(ReadOnlyQueryError);
    expect(() => { assertReadOnlyAst(tree('azureBlobStorage'), formatted, context); }).toThrow(/azureBlobStorage/);
    // A tree whose lines do not add up (a name that printed a line of its own) is refused, whatever it says.
    expect(() => { assertReadOnlyAst([...tree('numbers'), '       Function file'], formatted, context); }).toThrow(/could not read the syntax tree/);
  });
});
