/**
 * The read-only query surface under attack, as an analyst with access would
 * try it: files read and written, requests sent elsewhere, inner queries the
 * rules never see, the machine's secrets, and requests meant to kill or
 * wedge the service. Every attempt goes through `inferledger sql` and through
 * the query endpoint (also with its settings as URL parameters and its body
 * gzipped); a local HTTP server proves no request leaves, a temp directory
 * proves no file is read or written, and the endpoint answers after each.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, EXIT } from '../src/cli/main.js';
import { configSchema } from '../src/config/config.js';
import { startQueryEndpoint, type QueryEndpoint } from '../src/service/query-endpoint.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { tempDir } from './helpers/files.js';
import { waitFor } from './helpers/wait.js';
import { TEST_DATA_DIR, discardWarehouse, freshWarehouse, testWarehouseConfig } from './helpers/warehouse.js';

let w: Warehouse;
let session: Warehouse;
let endpoint: QueryEndpoint;
let base: string;
let canary: Server;
let canaryUrl: string;
const canaryHits: string[] = [];
const dir = tempDir();
const SECRET = 'inferledger-secret-7f3a9c';
const secretFile = join(dir, 'secret.txt');
writeFileSync(secretFile, `${SECRET}\n`);
const queries = configSchema.shape.queries.parse({ maxMemoryBytes: 300 * 1024 ** 2, maxExecutionSeconds: 20, concurrency: 2, userConcurrency: 4, queueTimeoutMs: 500, queriesPerMinute: 100_000 });

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: w.database } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function post(sql: string, search = '', init: RequestInit = {}): Promise<{ status: number; text: string; retryAfter: string | null }> {
  const res = await fetch(`${base}/?${search}`, { method: 'POST', body: sql, ...init });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

/** Nothing left the machine, no file appeared, the secret was not read, and the endpoint still answers. */
async function assertNothingHappened(what: string, output: string): Promise<void> {
  expect(output, what).not.toContain(SECRET);
  expect(canaryHits, what).toEqual([]);
  expect(readdirSync(dir).sort(), what).toEqual(['secret.txt']);
  expect(await (await fetch(`${base}/ping`)).text(), what).toBe('Ok.\n');
  expect((await post('SELECT 41 + 1')).text, what).toBe('42\n');
}

beforeAll(async () => {
  w = await freshWarehouse();
  await w.command('CREATE TABLE spend (tenant String, cost Decimal(18, 9)) ENGINE = MergeTree ORDER BY tenant');
  await w.insertObjects('spend', [{ tenant: 'acme', cost: '1.5' }]);
  session = await openWarehouse(testWarehouseConfig(w.database));
  endpoint = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries, log: () => undefined });
  base = `http://127.0.0.1:${endpoint.port}`;
  canary = createServer((req, res) => { canaryHits.push(`${req.method ?? ''} ${req.url ?? ''}`); res.end('{"schema": "x"}'); });
  await new Promise<void>((resolve) => { canary.listen(0, '127.0.0.1', resolve); });
  canaryUrl = `http://127.0.0.1:${(canary.address() as { port: number }).port}`;
});

afterAll(async () => {
  await endpoint.close();
  await session.close();
  await discardWarehouse(w);
  await new Promise<void>((resolve) => { canary.close(() => { resolve(); }); });
});

/** Each attack as SQL, and the rule expected to name it. */
function attacks(): [string, string, RegExp][] {
  const out = (name: string): string => join(dir, name);
  return [
    ['a file read by a Template format setting', `SELECT 1 AS x FORMAT Template SETTINGS format_template_row = '${secretFile}'`, /format Template is not allowed|format_template_row/],
    ['the same in lower case with comments', `select /* hi */ 1 as x -- there\nformat template settings format_template_row = '${secretFile}'`, /format Template is not allowed|format_template_row/],
    ['a Template format in a UNION', `SELECT 1 AS x UNION ALL SELECT 2 FORMAT Template SETTINGS format_template_resultset = '${secretFile}'`, /format Template is not allowed|format_template_resultset/],
    ['a Template format after a CTE', `WITH t AS (SELECT 1 AS x) SELECT * FROM t FORMAT Template SETTINGS format_template_row = '${secretFile}'`, /format Template is not allowed|format_template_row/],
    ['an inner query run by a Protobuf schema source', `SELECT 1 AS x FORMAT Protobuf SETTINGS format_schema_source = 'query', format_schema = 'SELECT * FROM url(''${canaryUrl}'', ''LineAsString'')'`, /format Protobuf is not allowed|format_schema/],
    ['a schema registry request', `SELECT 1 AS x FORMAT AvroConfluent SETTINGS format_avro_schema_registry_url = '${canaryUrl}'`, /format AvroConfluent is not allowed|format_avro_schema_registry_url/],
    ['SHOW TABLES into a file', `SHOW TABLES INTO OUTFILE '${out('x.txt')}'`, /INTO OUTFILE/],
    ['DESCRIBE into a file', `DESCRIBE (SELECT 1 AS \`any text\`) INTO OUTFILE '${out('y')}' TRUNCATE FORMAT TSVRaw`, /INTO OUTFILE/],
    ['EXPLAIN into a file', `EXPLAIN SYNTAX SELECT 1 INTO OUTFILE '${out('e')}'`, /INTO OUTFILE/],
    ['SHOW CREATE into a file', `SHOW CREATE TABLE spend INTO OUTFILE '${out('c')}'`, /INTO OUTFILE/],
    ['a file written by a Protobuf schema', `SELECT 1 AS \`x\` FORMAT Protobuf SETTINGS format_protobuf_use_autogenerated_schema = 1, output_format_schema = '${out('victim.txt')}'`, /format Protobuf is not allowed|format_protobuf_use_autogenerated_schema|output_format_schema/],
    ['a URL read in a subquery of an EXPLAIN', `EXPLAIN AST SELECT * FROM url('${canaryUrl}', 'CSV', 'a String')`, /table function url\(\)/],
    ['DESCRIBE of a URL', `DESCRIBE url('${canaryUrl}', 'CSV', 'a String')`, /table function url\(\)/],
    ['the server path', "SELECT getServerSetting('path') AS p", /function getServerSetting\(\)/],
    ['the host name', 'SELECT hostName() AS h', /function hostName\(\)/],
    ['a symbol of the process', 'SELECT addressToSymbol(toUInt64(1)) AS s', /function addressToSymbol\(\)/],
    ['stack traces', 'SELECT * FROM system.stack_trace', /system\.stack_trace is not readable/],
    ['other sessions\' queries', 'SELECT query FROM system.processes', /system\.processes is not readable/],
    ['the process list behind IN', "SELECT 1 WHERE 'x' IN system.processes", /system\.processes is not readable/],
    ['the process list by SHOW', 'SHOW PROCESSLIST', /only queries that read|not allowed/],
    ['disks', 'SELECT * FROM system.disks', /system\.disks is not readable/],
    ['build options', 'SELECT * FROM system.build_options', /system\.build_options is not readable/],
    ['introspection turned on', 'SELECT 1 SETTINGS allow_introspection_functions = 1', /setting allow_introspection_functions/],
    ['a limit lifted', 'SELECT 1 SETTINGS max_execution_time = 100000', /setting max_execution_time may only tighten/],
    ['another database', 'SELECT * FROM default.anything', /default\.anything is not readable/],
    ['a dictionary', "SELECT dictGet('d', 'a', toUInt64(1)) AS v", /function dictGet\(\)/],
    ['a table read by joinGet', "SELECT joinGet('system.processes', 'query', 1) AS q", /function joinGet\(\)/],
    ['a name whose line break would forge the syntax tree', `SELECT 1 AS \`a\n       Function file\` FROM spend WHERE tenant IN (SELECT * FROM file('${secretFile}', 'LineAsString'))`, /control character|table function file\(\)/],
  ];
}

describe('hostile queries through inferledger sql and the endpoint', () => {
  it('refuses every one, on both, and nothing happens', async () => {
    for (const [what, sql, rule] of attacks()) {
      const viaCli = await cli(['sql', sql, '--format', 'csv']);
      expect(viaCli.code, `sql: ${what}`).toBe(EXIT.failed);
      expect(viaCli.err, `sql: ${what}`).toMatch(new RegExp(rule.source, 'i'));
      await assertNothingHappened(`sql: ${what}`, viaCli.out + viaCli.err);
      const viaHttp = await post(sql);
      expect(viaHttp.status, `endpoint: ${what}`).toBeGreaterThanOrEqual(400);
      expect(viaHttp.text, `endpoint: ${what}`).toMatch(new RegExp(rule.source, 'i'));
      await assertNothingHappened(`endpoint: ${what}`, viaHttp.text);
      const gzipped = await post('', '', { body: gzipSync(sql), headers: { 'Content-Encoding': 'gzip' } });
      expect(gzipped.text, `gzip: ${what}`).toMatch(new RegExp(rule.source, 'i'));
      await assertNothingHappened(`gzip: ${what}`, gzipped.text);
    }
  });

  it('refuses the same formats and settings given as URL parameters', async () => {
    const cases: [string, string, RegExp][] = [
      ['SELECT 1 AS x', `default_format=Template&format_template_resultset=${encodeURIComponent(secretFile)}`, /format Template is not allowed|format_template_resultset/],
      ['SELECT 1 AS x', 'default_format=Template', /format Template is not allowed/],
      ['SELECT 1 AS x FORMAT Template', `format_template_row=${encodeURIComponent(secretFile)}`, /format_template_row|format Template/],
      ['SELECT 1 AS x', `default_format=AvroConfluent&format_avro_schema_registry_url=${encodeURIComponent(canaryUrl)}`, /AvroConfluent|format_avro_schema_registry_url/],
      ['SELECT 1', 'allow_introspection_functions=1', /setting allow_introspection_functions/],
      ['SELECT 1', 'max_memory_usage=0', /setting max_memory_usage may only tighten/],
      ['SELECT * FROM {t:Identifier}', 'param_t=system.processes', /system\.processes is not readable/],
      ['SELECT * FROM {t:Identifier}', `param_t=${encodeURIComponent('spend\n Function file')}`, /must be a plain name/],
    ];
    for (const [sql, search, rule] of cases) {
      const res = await post(sql, search);
      expect(res.status, search).toBeGreaterThanOrEqual(400);
      expect(res.text, search).toMatch(rule);
      await assertNothingHappened(search, res.text);
    }
  });

  it('survives requests meant to crash it, answering each with an error', async () => {
    const raw = (request: string): Promise<string> => new Promise((resolve, reject) => {
      const socket = connect(endpoint.port, '127.0.0.1', () => { socket.end(request); });
      let text = '';
      socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      socket.on('end', () => { resolve(text); });
      socket.on('error', reject);
    });
    expect(await raw('GET //x:99999 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 404/);
    const badId = await fetch(`${base}/?query_id=a%0Ab`, { method: 'POST', body: 'SELECT 1' });
    expect([badId.status, await badId.text()]).toEqual([400, expect.stringMatching(/query_id must be/)]);
    const locked = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, password: 'pw', queries, log: () => undefined });
    try {
      const res = await fetch(`http://127.0.0.1:${locked.port}/?query_id=a%0Ab`, { method: 'POST', body: 'SELECT 1' });
      expect(res.status).toBe(400);
      expect(await (await fetch(`http://127.0.0.1:${locked.port}/ping`)).text()).toBe('Ok.\n');
    } finally {
      await locked.close();
    }
    // A body that is not the gzip it claims: an error, or the connection closed; never the process.
    expect(await raw('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\nnotgz')).toMatch(/^(HTTP\/1\.1 [45]\d\d|)/);
    expect(await raw('GARBAGE\r\n\r\n')).toMatch(/^(HTTP\/1\.1 400|)$/);
    await assertNothingHappened('crash attempts', '');
  });

  it('refuses browser pages and rebound host names', async () => {
    const fromPage = await post('SELECT 1', '', { headers: { Origin: 'https://evil.example' } });
    expect([fromPage.status, fromPage.text]).toEqual([403, expect.stringMatching(/Requests from web pages are refused \(Origin https:\/\/evil\.example\)/)]);
    const sansOrigin = await fetch(`${base}/?query=SELECT%201`, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    expect(sansOrigin.status).toBe(403);
    const rebound = await new Promise<string>((resolve, reject) => {
      const socket = connect(endpoint.port, '127.0.0.1', () => { socket.end('GET /?query=SELECT%201 HTTP/1.1\r\nHost: evil.example:8124\r\nConnection: close\r\n\r\n'); });
      let text = '';
      socket.on('data', (d: Buffer) => { text += d.toString(); });
      socket.on('end', () => { resolve(text); });
      socket.on('error', reject);
    });
    expect(rebound).toMatch(/^HTTP\/1\.1 403[\s\S]*Host evil\.example:8124 is not this endpoint's/);
    const allowed = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries: { ...queries, allowedOrigins: ['https://grafana.example'] }, log: () => undefined });
    try {
      const res = await fetch(`http://127.0.0.1:${allowed.port}/?query=SELECT%207`, { headers: { Origin: 'https://grafana.example' } });
      expect([res.status, await res.text(), res.headers.get('access-control-allow-origin')]).toEqual([200, '7\n', 'https://grafana.example']);
    } finally {
      await allowed.close();
    }
  });
});

describe('runaway queries', () => {
  const running = async (marker: string): Promise<number> => (await w.query(
    // The probe's own text names the marker too: it is left out by what only it reads.
    'SELECT count() AS n FROM system.processes WHERE query LIKE {m:String} AND position(query, \'system.processes\') = 0', { m: `%${marker}%` }, z.object({ n: z.coerce.number() }),
  ))[0]?.n ?? 0;

  it('a client that gives up stops its query in the engine, and the next query runs', async () => {
    const controller = new AbortController();
    const pending = fetch(`${base}/`, { method: 'POST', body: 'SELECT sum(number) AS gave_up FROM numbers(1000000000000)', signal: controller.signal }).catch(() => undefined);
    await waitFor(async () => await running('gave_up') > 0, { what: 'the query to run', timeoutMs: 10_000 });
    controller.abort();
    await pending;
    await waitFor(async () => await running('gave_up') === 0, { what: 'the engine to stop the query', timeoutMs: 10_000 });
    expect((await post('SELECT 1')).text).toBe('1\n');
  });

  it('memory and time limits stop a query at the limit, and the endpoint answers on', async () => {
    const memory = await post('SELECT groupArray(number) AS a FROM numbers(600000000)');
    expect(memory.text).toMatch(/^Code: 241\. DB::Exception: .*memory limit exceeded/i);
    const time = await post('SELECT sum(number) FROM numbers(1000000000000) SETTINGS max_execution_time = 1');
    expect(time.text).toMatch(/^Code: 159\. DB::Exception: .*Timeout exceeded/);
    await assertNothingHappened('limits', '');
  });

  it('runs queries up to the limit at once and refuses the rest after their wait in line', async () => {
    const controllers = [new AbortController(), new AbortController()];
    const long = controllers.map((c, i) => fetch(`${base}/`, { method: 'POST', body: `SELECT sum(number) AS busy_${i} FROM numbers(1000000000000)`, signal: c.signal }).catch(() => undefined));
    await waitFor(() => endpoint.running === 2, { what: 'both slots to fill', timeoutMs: 10_000 });
    const third = await post('SELECT 3');
    expect([third.status, third.text]).toEqual([429, expect.stringMatching(/^Code: 202\. DB::Exception: Too many simultaneous queries/)]);
    expect(third.retryAfter).toMatch(/^[1-9]\d*$/);
    for (const c of controllers) c.abort();
    await Promise.all(long);
    await waitFor(() => endpoint.running === 0, { what: 'the slots to free', timeoutMs: 10_000 });
    expect((await post('SELECT 3')).text).toBe('3\n');
  });

  it('closing the endpoint (SIGTERM) stops a running query at once', async () => {
    const closing = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries, log: () => undefined });
    const pending = fetch(`http://127.0.0.1:${closing.port}/`, { method: 'POST', body: 'SELECT sum(number) AS at_close FROM numbers(1000000000000)' }).catch(() => undefined);
    await waitFor(async () => await running('at_close') > 0, { what: 'the query to run', timeoutMs: 10_000 });
    const started = Date.now();
    await closing.close();
    await pending;
    expect(Date.now() - started).toBeLessThan(10_000);
    await waitFor(async () => await running('at_close') === 0, { what: 'the engine to stop the query', timeoutMs: 10_000 });
  });

  it('streams a large result instead of holding it', async () => {
    const res = await fetch(`${base}/?default_format=CSV`, { method: 'POST', body: 'SELECT number, toString(number) FROM numbers(3000000)' });
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (const b of chunk) if (b === 10) lines++;
    }
    expect(lines).toBe(3_000_000);
    expect(bytes).toBeGreaterThan(30_000_000);
  });
});
