/**
 * Users and scopes on the query endpoint, attacked as a scoped user would:
 * a team's analyst tries every route to another team's rows (tables, views,
 * subqueries, CTEs, UNION, JOIN, system tables, table functions, the filter
 * setting in the query and in the URL, parameters, readonly, credentials
 * given twice or spoofed, huge queries), and random queries from a small
 * grammar return only rows of the scope. On a real embedded warehouse with
 * attributed rows; every refusal is found in the audit.
 */
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, passwordSha256Hex } from '../src/access/authenticate.js';
import { startQueryAudit, type QueryAudit } from '../src/access/query-audit.js';
import { configSchema } from '../src/config/config.js';
import { startQueryEndpoint, type QueryEndpoint } from '../src/service/query-endpoint.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { seedScopedMonth, TEAMS } from './helpers/scoped-data.js';
import { discardWarehouse, freshWarehouse, testWarehouseConfig } from './helpers/warehouse.js';

const OTHERS = TEAMS.filter((t) => t !== 'searchx');

const access = configSchema.shape.access.parse({
  users: [
    { name: 'search', password_sha256_hex: passwordSha256Hex('pw-search'), scope: { teams: ['searchx'] } },
    { name: 'globex', password_sha256_hex: passwordSha256Hex('pw-globex'), scope: { tenants: ['globexq'] } },
    { name: 'finance', password_sha256_hex: passwordSha256Hex('pw-finance'), scope: 'all' },
    { name: 'slow', password_sha256_hex: passwordSha256Hex('pw-slow'), scope: { teams: ['searchx'] }, limits: { queriesPerMinute: 3 } },
  ],
  sharedTables: ['coverage_daily'],
});
const queries = configSchema.shape.queries.parse({ maxMemoryBytes: 300 * 1024 ** 2, maxTotalMemoryBytes: 1024 ** 3, maxExecutionSeconds: 20 });

let w: Warehouse;
let session: Warehouse;
let endpoint: QueryEndpoint;
let audit: QueryAudit;
let base: string;

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
const AS_SEARCH = basic('search', 'pw-search');

interface Answer { status: number; text: string; retryAfter: string | null; authenticate: string | null }

async function ask(sql: string, headers: Record<string, string> | [string, string][], search = ''): Promise<Answer> {
  const res = await fetch(`${base}/?${search}`, { method: 'POST', body: sql, headers });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after'), authenticate: res.headers.get('www-authenticate') };
}

beforeAll(async () => {
  w = await freshWarehouse();
  await seedScopedMonth(w);
  session = await openWarehouse(testWarehouseConfig(w.database));
  audit = startQueryAudit(w, () => undefined);
  endpoint = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries, access, audit, log: () => undefined });
  base = `http://127.0.0.1:${endpoint.port}`;
});

afterAll(async () => {
  await endpoint.close();
  await audit.close();
  await session.close();
  await discardWarehouse(w);
});

/** Every table and view of the warehouse that carries `team`, and every one that carries `tenant_id`. */
async function tablesWith(column: string): Promise<string[]> {
  const rows = await w.query('SELECT DISTINCT table FROM system.columns WHERE database = {db:String} AND name = {c:String} ORDER BY table', { db: w.database, c: column }, z.object({ table: z.string() }));
  return rows.map((r) => r.table);
}

describe('who may ask', () => {
  it('refuses a request without valid credentials with 401, and reads the credentials every way clients send them', async () => {
    const refused: [string, Record<string, string> | [string, string][], string][] = [
      ['no credentials', {}, ''],
      ['the driver\'s default user', basic('default', ''), ''],
      ['a wrong password', basic('search', 'pw-globex'), ''],
      ['an empty password', basic('search', ''), ''],
      ['an unknown user', basic('nobody', 'pw-search'), ''],
      ['a wrong key header', { 'X-ClickHouse-User': 'search', 'X-ClickHouse-Key': 'nope' }, ''],
      ['wrong parameters', {}, 'user=search&password=nope'],
    ];
    for (const [what, headers, search] of refused) {
      const answer = await ask('SELECT 1', headers, search);
      expect([answer.status, answer.text.slice(0, 50)], what).toEqual([401, expect.stringMatching(/^Code: 516\. DB::Exception: Authentication/)]);
      expect(answer.authenticate, what).toMatch(/^Basic realm=/);
    }
    const accepted: [string, Record<string, string>, string][] = [
      ['basic auth', AS_SEARCH, ''],
      ['the key headers', { 'X-ClickHouse-User': 'search', 'X-ClickHouse-Key': 'pw-search' }, ''],
      ['parameters', {}, 'user=search&password=pw-search'],
    ];
    for (const [what, headers, search] of accepted) expect((await ask('SELECT 1', headers, search)).text, what).toBe('1\n');
  });

  it('refuses credentials given twice or two ways, rather than guessing which counts', async () => {
    const twice: [string, Record<string, string> | [string, string][], string][] = [
      ['basic auth and the user header', { ...basic('search', 'pw-search'), 'X-ClickHouse-User': 'finance', 'X-ClickHouse-Key': 'pw-finance' }, ''],
      ['basic auth and parameters', basic('search', 'pw-search'), 'user=finance&password=pw-finance'],
      ['the user header twice', [['X-ClickHouse-User', 'search'], ['X-ClickHouse-User', 'finance'], ['X-ClickHouse-Key', 'pw-search']], ''],
      ['the authorization header twice', [['Authorization', basic('search', 'pw-search').Authorization as string], ['Authorization', basic('finance', 'pw-finance').Authorization as string]], ''],
      ['the user parameter twice', {}, 'user=search&user=finance&password=pw-search'],
    ];
    for (const [what, headers, search] of twice) {
      const answer = await ask('SELECT 1', headers, search);
      expect([answer.status, answer.text], what).toEqual([400, expect.stringMatching(/^Code: 36\. DB::Exception: .*(more than once|more than one way)/)]);
    }
  });

  it('takes as long to refuse an unknown user as a wrong password (no early return)', () => {
    const authenticator = createAuthenticator({ access, queries });
    const request = (user: string): Parameters<typeof authenticator.authenticate>[0] => {
      const auth = basic(user, 'wrong-password').Authorization as string;
      return { headers: { authorization: auth }, rawHeaders: ['Authorization', auth] } as unknown as Parameters<typeof authenticator.authenticate>[0];
    };
    const url = new URL('http://localhost/');
    const time = (user: string): number => {
      const req = request(user);
      const started = process.hrtime.bigint();
      for (let i = 0; i < 3000; i++) {
        try { authenticator.authenticate(req, url); } catch { /* refused, as expected */ }
      }
      return Number(process.hrtime.bigint() - started);
    };
    // Alternating runs, best of five each: a hash skipped for unknown names would make them several times faster.
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 5; i++) {
      unknown.push(time('nobody-here'));
      wrong.push(time('search'));
    }
    const ratio = Math.min(...unknown) / Math.min(...wrong);
    expect(ratio).toBeGreaterThan(0.6);
    expect(ratio).toBeLessThan(1.6);
  });
});

describe('a team sees its own rows only', () => {
  it('every table and view carrying team is filtered by the engine, and a tenant user sees its tenant only', async () => {
    const teamTables = await tablesWith('team');
    expect(teamTables).toEqual(expect.arrayContaining(['cost_allocation', 'cpp_daily', 'inference_requests', 'inference_requests_dedup', 'request_hours']));
    for (const table of teamTables) {
      const all = await ask(`SELECT DISTINCT team FROM ${table} ORDER BY team`, basic('finance', 'pw-finance'));
      const mine = await ask(`SELECT DISTINCT team FROM ${table} ORDER BY team`, AS_SEARCH);
      expect(all.text, table).toBe(`${[...TEAMS].sort().join('\n')}\n`);
      expect(mine.text, table).toBe('searchx\n');
    }
    for (const table of await tablesWith('tenant_id')) {
      const mine = await ask(`SELECT DISTINCT tenant_id FROM ${table}`, basic('globex', 'pw-globex'));
      expect(mine.status, table).toBe(200);
      expect(['globexq\n', ''], table).toContain(mine.text);
    }
    // Sums are the scope's, to the last unit.
    const total = await ask("SELECT sum(cost) FROM cost_allocation WHERE team = 'searchx'", basic('finance', 'pw-finance'));
    expect((await ask('SELECT sum(cost) FROM cost_allocation', AS_SEARCH)).text).toBe(total.text);
    expect((await ask('SELECT count() FROM cost_allocation', AS_SEARCH)).text).toBe((await ask("SELECT count() FROM cost_allocation WHERE team = 'searchx'", basic('finance', 'pw-finance'))).text);
  });

  it('no route returns another team\'s rows', async () => {
    const routes = [
      'SELECT * FROM cost_allocation FORMAT JSONEachRow',
      'SELECT * FROM inference_requests_dedup FORMAT JSONEachRow',
      'SELECT team FROM (SELECT * FROM cost_allocation)',
      'WITH x AS (SELECT team FROM cpp_daily) SELECT * FROM x',
      'SELECT team FROM cost_allocation UNION ALL SELECT team FROM request_hours UNION DISTINCT SELECT team FROM inference_requests',
      'SELECT b.team FROM cost_allocation AS a INNER JOIN inference_requests AS b ON a.tenant_id = b.tenant_id',
      'SELECT b.team FROM cost_allocation AS a RIGHT JOIN inference_requests AS b ON 1 = 1 SETTINGS join_use_nulls = 1',
      'SELECT team FROM cost_allocation WHERE 1 OR 1',
      'SELECT groupArray(team) FROM cost_allocation',
      'SELECT team FROM `cost_allocation`',
      'SELECT team FROM cost_allocation WHERE team IN (SELECT team FROM inference_requests)',
      'SELECT arrayJoin([team]) FROM request_hours',
      'SELECT team FROM cost_allocation FINAL',
      'SELECT * FROM information_schema.tables FORMAT JSONEachRow',
      'SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() FORMAT JSONEachRow',
      'EXPLAIN ESTIMATE SELECT * FROM cost_allocation',
    ];
    for (const sql of routes) {
      const { status, text } = await ask(sql, AS_SEARCH);
      for (const other of OTHERS) expect(text, `${sql} (${status})`).not.toContain(other);
    }
    // The database named outright is the same table, the same filter.
    const named = await ask(`SELECT DISTINCT team FROM ${w.database}.cost_allocation`, AS_SEARCH);
    expect(named.text).toBe('searchx\n');
  });

  it('refuses every way to lift or bypass the filter, and tables holding everyone\'s numbers', async () => {
    const refused: [string, string][] = [
      ["SELECT team FROM cost_allocation SETTINGS additional_table_filters = {'x': '1'}", ''],
      ['SELECT team FROM cost_allocation SETTINGS readonly = 0', ''],
      ['SELECT team FROM cost_allocation', `additional_table_filters=${encodeURIComponent("{'db.cost_allocation':'1'}")}`],
      ['SELECT team FROM cost_allocation', 'additional_result_filter=1'],
      ["SELECT * FROM merge(currentDatabase(), '^cost')", ''],
      ['SELECT * FROM view(SELECT team FROM cost_allocation)', ''],
      ["SELECT * FROM remote('127.0.0.1', currentDatabase(), 'cost_allocation')", ''],
      ["SELECT * FROM file('data.csv')", ''],
      ['SELECT * FROM system.processes', ''],
      ['SELECT * FROM system.query_log', ''],
      ['SELECT * FROM system.parts', ''],
      ['SELECT * FROM pool_cost', ''],
      ['SELECT * FROM billing_line_items', ''],
      ['SELECT * FROM billing_current', ''],
      ['SELECT * FROM cpp_alerts', ''],
      ['SELECT * FROM query_audit', ''],
      ['SELECT team, pool_id FROM cost_allocation WHERE pool_id IN (SELECT pool_id FROM pool_cost)', ''],
      ['SHOW CREATE TABLE pool_cost', ''],
      ['SET additional_table_filters = {}', ''],
      ["INSERT INTO cost_allocation (team) VALUES ('x')", ''],
    ];
    for (const [sql, search] of refused) {
      const answer = await ask(sql, AS_SEARCH, search);
      expect(answer.status, `${sql} ${search}`).toBeGreaterThanOrEqual(400);
      expect(answer.text, `${sql} ${search}`).toMatch(/^Code: \d+\. DB::Exception: /);
    }
    // A shared table is read whole; readonly in the URL changes nothing.
    expect((await ask('SELECT count() > 0 FROM coverage_daily', AS_SEARCH)).text).toBe('1\n');
    expect((await ask('SELECT DISTINCT team FROM cost_allocation', AS_SEARCH, 'readonly=0')).text).toBe('searchx\n');
  });

  it('binds a hostile parameter as data, and refuses a query larger than the endpoint takes', async () => {
    const param = encodeURIComponent("x' OR 1 = 1 OR team != '");
    expect((await ask('SELECT DISTINCT team FROM cost_allocation WHERE team != {t:String}', AS_SEARCH, `param_t=${param}`)).text).toBe('searchx\n');
    const huge = await ask(`SELECT team FROM cost_allocation WHERE team != '${'z'.repeat(2 * 1024 * 1024)}'`, AS_SEARCH);
    expect([huge.status, huge.text]).toEqual([400, expect.stringMatching(/^Code: 62\. DB::Exception: Max query size exceeded/)]);
    expect((await ask('SELECT 1', AS_SEARCH)).text).toBe('1\n');
  });

  it('random queries of a small grammar, run as a scoped user, return only rows of its scope', async () => {
    const teamTables = ['cost_allocation', 'cpp_daily', 'request_hours', 'inference_requests', 'inference_requests_dedup'];
    const source = fc.oneof(
      fc.constantFrom(...teamTables),
      fc.constantFrom(...teamTables).map((t) => `(SELECT * FROM ${t})`),
      fc.tuple(fc.constantFrom(...teamTables), fc.constantFrom(...teamTables)).map(([a, b]) => `(SELECT team, tenant_id FROM ${a} UNION ALL SELECT team, tenant_id FROM ${b})`),
      fc.tuple(fc.constantFrom(...teamTables), fc.constantFrom(...teamTables)).map(([a, b]) => `(SELECT r.team AS team, r.tenant_id AS tenant_id FROM ${a} AS l INNER JOIN ${b} AS r ON l.tenant_id = r.tenant_id)`),
    );
    const where = fc.constantFrom('', 'WHERE 1', "WHERE team != ''", 'WHERE tenant_id IN (SELECT tenant_id FROM inference_requests)', 'WHERE length(team) > 0 OR 1');
    const shape = fc.constantFrom('plain', 'grouped', 'cte');
    await fc.assert(fc.asyncProperty(source, where, shape, async (from, filter, form) => {
      const inner = form === 'grouped' ? `SELECT team FROM ${from} AS s ${filter} GROUP BY team` : `SELECT team FROM ${from} AS s ${filter}`;
      const sql = form === 'cte' ? `WITH q AS (${inner}) SELECT team FROM q` : inner;
      const answer = await ask(sql, AS_SEARCH);
      expect(answer.status, sql).toBe(200);
      const teams = new Set(answer.text.split('\n').filter((l) => l !== ''));
      expect([...teams].filter((t) => t !== 'searchx'), sql).toEqual([]);
    }), { numRuns: 25 });
  });
});

describe('limits and the audit', () => {
  it('answers 429 with Retry-After over a user\'s queries per minute, and the others go on', async () => {
    const slow = basic('slow', 'pw-slow');
    for (let i = 0; i < 3; i++) expect((await ask('SELECT 1', slow)).status).toBe(200);
    const over = await ask('SELECT 1', slow);
    expect([over.status, over.text]).toEqual([429, expect.stringMatching(/^Code: 202\. DB::Exception: Too many queries: user slow may send 3 a minute/)]);
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(over.retryAfter)).toBeLessThanOrEqual(60);
    expect((await ask('SELECT 1', AS_SEARCH)).status).toBe(200);
  });

  it('records every request, refusals included, with its user, outcome and size', async () => {
    await ask('SELECT 41 AS audited_ok', AS_SEARCH);
    await ask('SELECT * FROM pool_cost /* audited refusal */', AS_SEARCH);
    // A caller not let in has its body left unread: the audit keeps the text of the URL.
    await ask('', basic('search', 'not-the-password'), `query=${encodeURIComponent('SELECT 42 AS audited_denied')}`);
    await audit.flush();
    const rows = await w.query(
      "SELECT user, authenticated, scope, outcome, error_code, result_rows, result_bytes, query FROM query_audit WHERE query LIKE '%audited%' ORDER BY event_time",
      {}, z.object({ user: z.string(), authenticated: z.boolean(), scope: z.string(), outcome: z.string(), error_code: z.coerce.number(), result_rows: z.coerce.number().nullable(), result_bytes: z.coerce.number(), query: z.string() }),
    );
    expect(rows.map((r) => [r.user, r.authenticated, r.scope, r.outcome, r.error_code])).toEqual([
      ['search', true, 'teams: searchx', 'ok', 0],
      ['search', true, 'teams: searchx', 'error', 164],
      ['search', false, '', 'unauthenticated', 516],
    ]);
    expect(rows[0]?.result_bytes).toBe(3);
    expect(rows[0]?.result_rows).toBe(1);
    // Every refusal of this file is there too: the ones over the rate, and the bypass attempts.
    const outcomes = await w.query('SELECT outcome, count() AS n FROM query_audit GROUP BY outcome ORDER BY outcome', {}, z.object({ outcome: z.string(), n: z.coerce.number() }));
    const counts = Object.fromEntries(outcomes.map((o) => [o.outcome, o.n]));
    for (const outcome of ['ok', 'error', 'unauthenticated', 'limited']) expect(counts[outcome], outcome).toBeGreaterThan(0);
  });
});
