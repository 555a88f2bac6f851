/**
 * Querying a running service: the read-only ClickHouse HTTP interface over a
 * real embedded warehouse, read by `@clickhouse/client` and by plain fetch;
 * the same refusals as `inferledger sql`; the CLI finding the service through
 * its discovery file (and ignoring a stale one); the queue dashboard.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, EXIT } from '../src/cli/main.js';
import { configSchema } from '../src/config/config.js';
import { startQueryEndpoint, unescapeParam, type QueryEndpoint } from '../src/service/query-endpoint.js';
import { runService } from '../src/service/run-service.js';
import { discoveryPath, findRunningService, writeDiscovery } from '../src/service/service-discovery.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { freePort } from './helpers/ports.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { TEST_DATA_DIR, discardWarehouse, freshWarehouse, testWarehouseConfig } from './helpers/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';

let w: Warehouse;
let session: Warehouse;
let endpoint: QueryEndpoint;
let base: string;
let client: ClickHouseClient;
const log: string[] = [];

const SPEND = [
  { tenant: 'acme', pool: 'llm-h100', cost: '1.250000000', requests: '5' },
  { tenant: 'globex', pool: 'clf-t4', cost: '0.000000001', requests: '1' },
  { tenant: "o'hare\tand sons", pool: 'llm-h100', cost: '10.500000000', requests: '18446744073709551615' },
];

async function cli(args: string[], database: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: database } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  w = await freshWarehouse();
  await w.command('CREATE TABLE spend (tenant String, pool String, cost Decimal(18, 9), requests UInt64) ENGINE = MergeTree ORDER BY tenant');
  await w.insertObjects('spend', SPEND);
  // The endpoint's own session, as the service opens it.
  session = await openWarehouse(testWarehouseConfig(w.database));
  endpoint = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries: configSchema.shape.queries.parse(undefined), log: (l) => { log.push(l); } });
  base = `http://127.0.0.1:${endpoint.port}`;
  client = createClient({ url: base, database: w.database });
});

afterAll(async () => {
  await client.close();
  await endpoint.close();
  await session.close();
  await discardWarehouse(w);
});

describe('the query endpoint, read by @clickhouse/client', () => {
  it('reads rows as JSONEachRow with bound parameters and a query id', async () => {
    const result = await client.query({
      query: 'SELECT tenant, cost, requests FROM spend WHERE pool = {pool:String} AND requests >= {min:UInt64} ORDER BY tenant',
      query_params: { pool: 'llm-h100', min: 2 },
      format: 'JSONEachRow',
      query_id: 'svc-query-1',
    });
    expect(result.query_id).toBe('svc-query-1');
    expect(result.response_headers['x-clickhouse-format']).toBe('JSONEachRow');
    expect(await result.json()).toEqual([
      { tenant: 'acme', cost: '1.25', requests: '5' },
      { tenant: "o'hare\tand sons", cost: '10.5', requests: '18446744073709551615' },
    ]);
  });

  it('binds a value holding quotes, tabs and backslashes as data', async () => {
    const hostile = "o'hare\tand sons";
    const rows = await (await client.query({ query: 'SELECT count() AS n, {s:String} AS s, {path:String} AS path FROM spend WHERE tenant = {s:String}', query_params: { s: hostile, path: 'a\\b\nc' }, format: 'JSONEachRow' })).json();
    expect(rows).toEqual([{ n: '1', s: hostile, path: 'a\\b\nc' }]);
    expect(unescapeParam('a\\tb\\\\c\\nd\\\'e')).toBe("a\tb\\c\nd'e");
  });

  it('answers the JSON family and applies query-shaping settings given as parameters', async () => {
    const json = await (await client.query({ query: 'SELECT tenant FROM spend ORDER BY tenant LIMIT 2', format: 'JSON' })).json<{ tenant: string }>();
    expect(json.data).toEqual([{ tenant: 'acme' }, { tenant: 'globex' }]);
    expect(json.rows).toBe(2);
    const compact = await (await client.query({ query: 'SELECT tenant, requests FROM spend ORDER BY tenant LIMIT 1', format: 'JSONCompactEachRow' })).json();
    expect(compact).toEqual([['acme', '5']]);
    const unquoted = await (await client.query({ query: 'SELECT requests FROM spend ORDER BY tenant LIMIT 1', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json();
    expect(unquoted).toEqual([{ requests: 5 }]);
  });

  it('refuses writes, table functions that reach files and settings changes, with the engine-style error', async () => {
    await expect(client.command({ query: "INSERT INTO spend (tenant) VALUES ('x')" })).rejects.toMatchObject({ code: '164', type: 'READONLY', message: expect.stringMatching(/^only queries that read may run without --write \(this is InsertQuery\)/) as unknown });
    await expect(client.query({ query: "SELECT * FROM file('/etc/passwd', 'LineAsString')", format: 'JSONEachRow' })).rejects.toMatchObject({ code: '164', type: 'READONLY', message: expect.stringMatching(/^table function file\(\) is not allowed: it reaches outside the warehouse/) as unknown });
    await expect(client.query({ query: 'SELECT 1 SETTINGS max_memory_usage = 0', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '164', message: expect.stringMatching(/^setting max_memory_usage may only tighten its limit/) as unknown });
    await expect(client.query({ query: 'SELECT 1', format: 'JSONEachRow', clickhouse_settings: { allow_introspection_functions: 1 } })).rejects.toMatchObject({ code: '164', message: expect.stringMatching(/^changing the setting allow_introspection_functions is not allowed/) as unknown });
    await expect(client.query({ query: 'SELECT * FROM no_such_table', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    // Nothing was written, and the service's own session still writes: the read-only state stays in the endpoint's session.
    expect(await (await client.query({ query: 'SELECT count() AS n FROM spend', format: 'JSONEachRow' })).json()).toEqual([{ n: '3' }]);
    await w.insertObjects('spend', [{ tenant: 'initech', pool: 'clf-t4', cost: '2', requests: '7' }]);
    expect(await (await client.query({ query: 'SELECT count() AS n FROM spend', format: 'JSONEachRow' })).json()).toEqual([{ n: '4' }]);
    await w.command("DELETE FROM spend WHERE tenant = 'initech'");
  });
});

describe('the query endpoint, read by plain HTTP', () => {
  it('answers /ping and a bare GET', async () => {
    const ping = await fetch(`${base}/ping`);
    expect([ping.status, await ping.text()]).toEqual([200, 'Ok.\n']);
    expect(await (await fetch(`${base}/`)).text()).toBe('Ok.\n');
  });

  it('answers a POSTed query in TabSeparatedWithNames with the headers clients rely on', async () => {
    const res = await fetch(`${base}/?database=${w.database}&query_id=tsv-1`, { method: 'POST', body: 'SELECT tenant, requests FROM spend ORDER BY tenant FORMAT TabSeparatedWithNames' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("tenant\trequests\nacme\t5\nglobex\t1\no\\'hare\\tand sons\t18446744073709551615\n");
    expect(res.headers.get('x-clickhouse-query-id')).toBe('tsv-1');
    expect(res.headers.get('x-clickhouse-format')).toBe('TabSeparatedWithNames');
    expect(res.headers.get('content-type')).toBe('text/tab-separated-values; charset=UTF-8');
    const summary = JSON.parse(res.headers.get('x-clickhouse-summary') ?? '{}') as Record<string, unknown>;
    expect(Object.keys(summary).sort()).toEqual(['elapsed_ns', 'read_bytes', 'read_rows', 'result_bytes', 'result_rows', 'total_rows_to_read', 'written_bytes', 'written_rows']);
    expect(Object.values(summary).every((v) => typeof v === 'string' && /^\d+$/.test(v))).toBe(true);
  });

  it('answers a GET with the query, default_format and a parameter in the URL, gzipped when asked', async () => {
    const url = `${base}/?query=${encodeURIComponent('SELECT tenant, pool FROM spend WHERE tenant = {t:String}')}&default_format=CSVWithNames&param_t=acme`;
    const res = await fetch(url);
    expect(await res.text()).toBe('"tenant","pool"\n"acme","llm-h100"\n');
    expect(res.headers.get('x-clickhouse-format')).toBe('CSVWithNames');
    const gzipped = await fetch(`${url}&enable_http_compression=1`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    expect(await gzipped.text()).toBe('"tenant","pool"\n"acme","llm-h100"\n');
  });

  it('answers errors as the server does: status, code header and Code: N. DB::Exception text', async () => {
    const cases: [string, number, number, RegExp][] = [
      ["SELECT * FROM file('/etc/passwd', 'LineAsString')", 500, 164, /^Code: 164\. DB::Exception: table function file\(\) is not allowed: .*\. \(READONLY\) \(version \d+\.[^)]*\)\n$/s],
      ['DROP TABLE spend', 500, 164, /^Code: 164\. DB::Exception: only queries that read may run without --write \(this is DropQuery\)\. \(READONLY\)/],
      ['SELECT 1; SELECT 2', 400, 62, /^Code: 62\. DB::Exception: Syntax error \(Multi-statements are not allowed\)/],
      ['SELEC 1', 400, 62, /^Code: 62\. DB::Exception: Syntax error/],
    ];
    for (const [sql, status, code, text] of cases) {
      const res = await fetch(`${base}/`, { method: 'POST', body: sql });
      expect([res.status, res.headers.get('x-clickhouse-exception-code')], sql).toEqual([status, String(code)]);
      expect(await res.text(), sql).toMatch(text);
    }
    const other = await fetch(`${base}/?database=system`, { method: 'POST', body: 'SELECT 1' });
    expect(other.status).toBe(404);
    expect(await other.text()).toMatch(/^Code: 81\. DB::Exception: Database system is not served here: this endpoint answers in database t_/);
    expect(await (await fetch(`${base}/`, { method: 'POST', body: 'SELECT * FROM spend', headers: { 'Content-Encoding': 'zstd' } })).text()).toMatch(/^Code: 36\. DB::Exception: Unknown Content-Encoding zstd/);
    const quoted = await fetch(`${base}/?max_threads=${encodeURIComponent("1' , allow_introspection_functions = '1")}`, { method: 'POST', body: 'SELECT 1' });
    expect([quoted.status, await quoted.text()]).toEqual([500, expect.stringMatching(/^Code: 164\. DB::Exception: setting max_threads: its value may not hold quotes, backslashes or control characters\. \(READONLY\)/)]);
    // The table is as it was.
    expect(await (await fetch(`${base}/?query=SELECT%20count()%20FROM%20spend`)).text()).toBe('3\n');
  });

  it('asks for the password when one is set', async () => {
    const locked = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, password: 's3cret', queries: configSchema.shape.queries.parse(undefined), log: () => undefined });
    try {
      const url = `http://127.0.0.1:${locked.port}/?query=SELECT%201`;
      const denied = await fetch(url);
      expect(denied.status).toBe(401);
      expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect(await denied.text()).toMatch(/^Code: 516\. DB::Exception: Authentication failed/);
      expect(await (await fetch(url, { headers: { Authorization: `Basic ${Buffer.from('default:s3cret').toString('base64')}` } })).text()).toBe('1\n');
      const withKey = createClient({ url: `http://127.0.0.1:${locked.port}`, password: 's3cret' });
      expect(await (await withKey.query({ query: 'SELECT 2 AS n', format: 'JSONEachRow' })).json()).toEqual([{ n: 2 }]);
      await withKey.close();
    } finally {
      await locked.close();
    }
  });
});

describe('inferledger sql and a running service', () => {
  let redis: TestRedis;
  beforeAll(async () => { redis = await startTestRedis(); });
  afterAll(async () => { await redis.dispose(); });

  const query = 'SELECT tenant, requests FROM spend WHERE pool = {pool:String} ORDER BY tenant';
  const expected = '"tenant","requests"\n"acme",5\n"o\'hare\tand sons",18446744073709551615';

  it('goes through the service while it holds the data directory, and opens it directly once it stopped', async () => {
    const direct = await cli(['sql', query, '--param', 'pool=llm-h100', '--format', 'csv'], w.database);
    expect(direct).toEqual({ code: EXIT.ok, out: expected, err: '' });
    // A billed hour with two requests, attributed, for the chargeback pack read through the service below.
    const hour = Date.UTC(2026, 10, 10, 10);
    await insertBilling(w, [billingLine({ start: hour, billed_cost: '10', effective_cost: '10' })], 'aws-cost-explorer');
    await insertRequests(w, [{ id: 'svc-a', ts: hour + 1_000, team: 'search' }, { id: 'svc-b', ts: hour + 2_000, team: 'chat' }]);
    expect((await cli(['attribute', '--from', '2026-11-10', '--to', '2026-11-11'], w.database)).code).toBe(EXIT.ok);

    const [queryPort, dashboardPort] = [await freePort(), await freePort()];
    const config = configSchema.parse({
      warehouse: { dataDir: TEST_DATA_DIR, database: w.database },
      redis: { url: redis.url },
      jobs: { prefix: uniquePrefix(), billingPull: false, shutdownGraceMs: 5_000 },
      service: { queryPort, dashboardPort },
      // The service builds the month's scheduled pack by itself: into a directory of the test's, not the working one.
      report: { outDir: tempDir() },
    });
    let stop: (reason: string) => void = () => undefined;
    const lines: string[] = [];
    const service = runService({ jobs: JOB_REGISTRY, role: 'all', config, warehouse: w, log: (l) => { lines.push(l); }, stop: new Promise((resolve) => { stop = resolve; }) });
    try {
      await waitFor(() => findRunningService(TEST_DATA_DIR)?.port === queryPort, { what: 'the discovery file' });
      expect(findRunningService(TEST_DATA_DIR)).toMatchObject({ pid: process.pid, host: '127.0.0.1', port: queryPort, database: w.database });
      expect(lines).toContain(`queries: read-only ClickHouse HTTP interface at http://127.0.0.1:${queryPort} (database ${w.database}, no password)`);

      expect(await cli(['sql', query, '--param', 'pool=llm-h100', '--format', 'csv'], w.database)).toEqual({ code: EXIT.ok, out: expected, err: '' });
      const json = await cli(['sql', 'SELECT count() AS n FROM spend', '--format', 'json'], w.database);
      expect(json).toEqual({ code: EXIT.ok, out: '{"n":"3"}', err: '' });
      const refused = await cli(['sql', "SELECT * FROM file('/etc/passwd', 'LineAsString')"], w.database);
      expect(refused.code).toBe(EXIT.failed);
      expect(refused.err).toMatch(/^inferledger: table function file\(\) is not allowed: it reaches outside the warehouse/);
      // Commands that only read go through the service too: alerts list, and a chargeback pack built from its answers.
      expect(await cli(['alerts', 'list', '--open'], w.database)).toEqual({ code: EXIT.ok, out: 'no open alerts', err: '' });
      const out = tempDir();
      const report = await cli(['report', 'chargeback', '--month', '2026-11', '--by', 'team', '--out', out], w.database);
      expect(report).toMatchObject({ code: EXIT.ok, err: '' });
      expect(report.out).toBe([
        `2026-11: final pack written to ${out}/2026-11/team-spread-effective-final (chargeback.csv, focus-allocated.csv, report.html, summary.json)`,
        '  USD: billed 10.000000000000 = allocated 10.000000000000 + idle 0.000000000000 + unallocated 0.000000000000',
      ].join('\n'));
      expect(readFileSync(join(out, '2026-11', 'team-spread-effective-final', 'chargeback.csv'), 'utf8')).toBe([
        'month,owner,model_id,feature_id,requests,input_tokens,output_tokens,gpu_hours,used_cost,idle_cost,cost,cpp,cost_per_1k_tokens,currency,status',
        '2026-11,chat,m1,f1,1,0,0,0.000028,0.000277777777,4.999722222223,5.000000000000,5.000000000000,,USD,final',
        '2026-11,search,m1,f1,1,0,0,0.000028,0.000277777778,4.999722222222,5.000000000000,5.000000000000,,USD,final',
        '',
      ].join('\n'));
      const write = await cli(['sql', 'DROP TABLE spend', '--write'], w.database);
      expect(write.code).toBe(EXIT.usage);
      expect(write.err).toBe(`inferledger: --write is refused: the data directory ${TEST_DATA_DIR} is held by a running \`inferledger run\` (pid ${process.pid}), which answers read-only queries only; stop it to write`);

      // The queue dashboard: its page, and its API listing every queue of the registry.
      const page = await fetch(`http://127.0.0.1:${dashboardPort}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('inferledger jobs');
      const api = await fetch(`http://127.0.0.1:${dashboardPort}/api/queues`);
      const queues = (await api.json() as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
      // Every queue a registered job runs on, each once, in the registry's order.
      const registryQueues = [...new Set(JOB_REGISTRY.map((j) => j.queue))];
      expect(queues).toEqual([...registryQueues].sort());
      expect(registryQueues).toEqual(expect.arrayContaining(['alerts', 'attribute', 'billing-pull', 'reports', 'rollups']));
      expect(lines).toContain(`dashboard: bull-board for queues ${registryQueues.join(', ')} at http://127.0.0.1:${dashboardPort}/`);
    } finally {
      stop('test over');
      await service;
    }
    expect(existsSync(discoveryPath(TEST_DATA_DIR))).toBe(false);
    expect(await cli(['sql', query, '--param', 'pool=llm-h100', '--format', 'csv'], w.database)).toEqual({ code: EXIT.ok, out: expected, err: '' });
  });

  it('ignores a discovery file whose process is gone', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid ?? 0;
    await new Promise((resolve) => child.once('exit', resolve));
    writeDiscovery(TEST_DATA_DIR, { pid, host: '127.0.0.1', port: await freePort(), database: w.database, startedAt: '2026-12-01T00:00:00.000Z' });
    try {
      expect(findRunningService(TEST_DATA_DIR)).toBeUndefined();
      expect(await cli(['sql', query, '--param', 'pool=llm-h100', '--format', 'csv'], w.database)).toEqual({ code: EXIT.ok, out: expected, err: '' });
      // Writes are the data directory's owner's again.
      expect(await cli(['sql', 'SELECT 1 AS one', '--write', '--format', 'csv'], w.database)).toEqual({ code: EXIT.ok, out: '"one"\n1', err: '' });
    } finally {
      rmSync(discoveryPath(TEST_DATA_DIR), { force: true });
    }
  });
});
