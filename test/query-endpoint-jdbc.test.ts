/**
 * The official ClickHouse JDBC driver (com.clickhouse:jdbc-v2 0.10.0, behind
 * DBeaver, DataGrip and Metabase) against the query endpoint, with its
 * default settings: format and database in headers, LZ4-compressed answers in
 * ClickHouse's block format (compress=1), wait_end_of_query. One JVM runs
 * every check (test/jdbc/JdbcCheck.java, through test/jdbc/jdbc.sh); the jars
 * come from `bash test/jdbc/jdbc.sh install`, which CI runs (.ci/run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { runJdbc, type JdbcResult as Result } from './helpers/jdbc.js';
import { startTestEndpoint, type TestEndpoint } from './helpers/query-endpoint.js';
import { discardWarehouse, scalar, testWarehouseConfig } from './helpers/warehouse.js';

const PASSWORD = 'jdbc-s3cret';
const HOSTILE = "o'hare\tand \\sons";
const LARGE = 1_500_000;

let w: Warehouse;
let endpoint: TestEndpoint;

beforeAll(async () => {
  w = await openWarehouse(testWarehouseConfig());
  await w.command('CREATE TABLE spend (tenant String, pool String, cost Decimal(18, 9), requests UInt64, day Date) ENGINE = MergeTree ORDER BY tenant');
  await w.insertObjects('spend', [
    { tenant: 'acme', pool: 'llm-h100', cost: '1.25', requests: '5', day: '2026-11-01' },
    { tenant: 'globex', pool: 'clf-t4', cost: '0.000000001', requests: '1', day: '2026-11-02' },
    { tenant: HOSTILE, pool: 'llm-h100', cost: '10.5', requests: '18446744073709551615', day: '2026-11-03' },
  ]);
  endpoint = await startTestEndpoint(w.database, { password: PASSWORD });
});

afterAll(async () => {
  await endpoint.close();
  await discardWarehouse(w);
});

describe('the ClickHouse JDBC driver (jdbc-v2 0.10.0, default settings) against the query endpoint', () => {
  it('connects, browses the catalogue, queries, binds values, reads a large compressed result, and is refused writes and wrong credentials', async () => {
    const [row] = await w.query('SELECT version() AS version', {}, z.object({ version: z.string() }));
    const url = `jdbc:clickhouse://127.0.0.1:${endpoint.endpoint.port}/${w.database}`;
    const checks = [
      ['version'],
      ['tables', w.database],
      ['columns', w.database, 'spend'],
      ['metadata'],
      ['query', 'SELECT tenant, cost, requests, day FROM spend ORDER BY tenant'],
      ['prepared', 'SELECT tenant, requests FROM spend WHERE pool = ? AND tenant = ?', 'llm-h100', HOSTILE],
      ['count', `SELECT number FROM numbers(${LARGE})`],
      ['update', "INSERT INTO spend (tenant) VALUES ('x')"],
      ['update', 'DROP TABLE spend'],
      ['as', 'default', 'wrong', '', 'SELECT 1'],
      // The driver compressing its requests too (decompress=1), a setting of its own beside the defaults.
      ['as', 'default', PASSWORD, 'decompress=true', "SELECT 'compressed both ways' AS said, length(repeat('ab', 500)) AS n"],
    ];
    const { results, stderr } = await runJdbc(url, 'default', PASSWORD, checks);
    const byCheck = (i: number): Result | undefined => results.find((r) => r.check === i);
    const context = `stderr of the JVM:\n${stderr}`;
    expect(results.map((r) => r.check), context).toEqual(['connect', ...checks.map((_, i) => i)]);
    expect(results[0], context).toMatchObject({ ok: true, driver: 'ClickHouse JDBC Driver 0.10.0' });

    expect(byCheck(0), context).toMatchObject({ ok: true, version: row?.version });
    expect(byCheck(1)?.rows, context).toEqual([[w.database, 'spend', 'TABLE']]);
    expect(byCheck(2)?.rows, context).toEqual([
      ['tenant', 'String', '12', '1', 'NO'],
      ['pool', 'String', '12', '2', 'NO'],
      ['cost', 'Decimal(18, 9)', '3', '3', 'NO'],
      ['requests', 'UInt64', '2', '4', 'NO'],
      ['day', 'Date', '91', '5', 'NO'],
    ]);
    // getTypeInfo and getClientInfoProperties read VALUES(...): allowed by that name too.
    expect(byCheck(3), context).toMatchObject({ ok: true, counts: { getSchemas: expect.any(Number) as unknown, getCatalogs: 0, getTableTypes: 9, getClientInfoProperties: 1 } });
    expect(byCheck(3)?.counts?.['getTypeInfo'], context).toBeGreaterThan(40);
    expect(byCheck(4), context).toMatchObject({
      ok: true,
      types: ['String', 'Decimal(18, 9)', 'UInt64', 'Date'],
      rows: [['acme', '1.250000000', '5', '2026-11-01'], ['globex', '1E-9', '1', '2026-11-02'], [HOSTILE, '10.500000000', '18446744073709551615', '2026-11-03']],
    });
    expect(byCheck(5), context).toMatchObject({ ok: true, rows: [[HOSTILE, '18446744073709551615']] });
    // 12 MB of RowBinary: a dozen compressed blocks, counted and summed on the Java side.
    expect(byCheck(6), context).toMatchObject({ ok: true, rows: LARGE, sum: String((LARGE * (LARGE - 1)) / 2) });

    for (const [i, kind] of [[7, 'InsertQuery'], [8, 'DropQuery']] as const) {
      expect(byCheck(i), context).toMatchObject({ ok: false, error: { code: 164, message: expect.stringMatching(new RegExp(`^Code: 164\\. DB::Exception: only queries that read may run without --write \\(this is ${kind}\\)\\. \\(READONLY\\)`)) as unknown } });
    }
    expect(await scalar(w, 'SELECT count() AS n FROM spend')).toBe(3);
    expect(byCheck(9), context).toMatchObject({ ok: false, error: { code: 516, message: expect.stringMatching(/^Code: 516\. DB::Exception: Authentication failed/) as unknown } });
    expect(byCheck(10), context).toMatchObject({ ok: true, rows: [['compressed both ways', '1000']] });
  });
});
