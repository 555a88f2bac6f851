/**
 * The scopes of access.users as ClickHouse server statements: every statement
 * is one the engine parses (formatQuery parses any statement kind and throws
 * on a syntax error), every row policy's filter is valid against its table of
 * a real migrated warehouse, the set is what the endpoint's rules say (a
 * policy per scoped user and filtered table, a permissive USING 1 for
 * everyone else, no grant of refused tables), and hostile names come out
 * whole. The embedded engine cannot run access statements, so they are
 * parsed, not applied.
 */
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordSha256Hex } from '../src/access/authenticate.js';
import { readScopedTables } from '../src/access/scope-tables.js';
import { scopeFilter, type ScopedTable } from '../src/access/scope.js';
import { ALL_ROWS_POLICY, serverAccessName, serverAccessStatements, serverAccessStatementsFor, sqlIdentifier } from '../src/access/server-statements.js';
import { configSchema } from '../src/config/config.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { discardWarehouse, freshWarehouse, scalar } from './helpers/warehouse.js';

const HOSTILE_TEAM = "a'b\\c";
const TEAMS_USER = 'search';
const TENANTS_USER = 'globex.ops@corp-1';
const ALL_USER = 'fin.ance@corp';
const PASSWORDS = ['pw-search-plain-7e1', 'pw-globex-plain-3b9', 'pw-finance-plain-5c2'] as const;

const access = configSchema.shape.access.parse({
  users: [
    { name: TEAMS_USER, password_sha256_hex: passwordSha256Hex(PASSWORDS[0]), scope: { teams: ['searchx', HOSTILE_TEAM] } },
    { name: TENANTS_USER, password_sha256_hex: passwordSha256Hex(PASSWORDS[1]), scope: { tenants: ['globexq'] }, limits: { maxMemoryBytes: 1_000_000, concurrency: 3, queriesPerMinute: 7 } },
    { name: ALL_USER, password_sha256_hex: passwordSha256Hex(PASSWORDS[2]), scope: 'all' },
  ],
  sharedTables: ['coverage_daily'],
});
const queries = configSchema.shape.queries.parse({ maxThreads: 4, maxExecutionSeconds: 90, maxResultRows: 0 });

let w: Warehouse;
let tables: ScopedTable[];
let statements: string[];

const formatted = z.object({ f: z.string() });
async function format(statement: string): Promise<string> {
  const rows = await w.query('SELECT formatQuery({q:String}) AS f', { q: statement }, formatted);
  return rows[0]?.f ?? '';
}

const IDENT = '`(?:[^`\\\\]|\\\\.)*`';
const POLICY = new RegExp(`^CREATE ROW POLICY OR REPLACE (${IDENT}) ON (${IDENT})\\.(${IDENT}) AS (PERMISSIVE|RESTRICTIVE) FOR SELECT USING (.+) TO (ALL|${IDENT}(?:, ${IDENT})*)$`);
const unquote = (identifier: string): string => identifier.slice(1, -1).replace(/\\(.)/g, '$1');

interface Policy { index: number; name: string; table: string; kind: string; using: string; to: string[] }

function policies(): Policy[] {
  const out: Policy[] = [];
  statements.forEach((s, index) => {
    const m = POLICY.exec(s);
    if (!m) return;
    const [, name = '', , table = '', kind = '', using = '', to = ''] = m;
    out.push({ index, name: unquote(name), table: unquote(table), kind, using, to: to === 'ALL' ? ['ALL'] : (to.match(new RegExp(IDENT, 'g')) ?? []).map(unquote) });
  });
  return out;
}

/** The tables a role's GRANT names (`*` for the whole database), and where it is. */
function granted(user: string): { index: number; tables: string[] } {
  const prefix = 'GRANT SELECT ON ';
  const suffix = ` TO ${sqlIdentifier(serverAccessName(user))} WITH REPLACE OPTION`;
  const index = statements.findIndex((s) => s.startsWith(prefix) && s.endsWith(suffix));
  const list = (statements[index] ?? '').slice('GRANT '.length, -suffix.length).split(', ');
  const database = `${sqlIdentifier(w.database)}.`;
  return { index, tables: list.filter((g) => g.startsWith(`SELECT ON ${database}`)).map((g) => g.slice(`SELECT ON ${database}`.length)).map((t) => (t === '*' ? '*' : unquote(t))) };
}

const statementOf = (start: string): number => statements.findIndex((s) => s.startsWith(start));

beforeAll(async () => {
  w = await freshWarehouse();
  tables = await readScopedTables(w);
  statements = serverAccessStatements({ database: w.database, access, queries, tables });
});

afterAll(async () => {
  await discardWarehouse(w);
});

describe('serverAccessStatements', () => {
  it('gives statements the engine parses, one each, that can run twice', async () => {
    expect(statements.length).toBeGreaterThan(20);
    for (const statement of statements) {
      expect(statement).not.toMatch(/;\s*$/);
      expect(await format(statement), statement).not.toBe('');
      expect(statement).toMatch(/^(CREATE (ROLE|USER) IF NOT EXISTS|CREATE (ROW POLICY|SETTINGS PROFILE|QUOTA) OR REPLACE|DROP ROW POLICY IF EXISTS|GRANT|ALTER USER) /);
    }
    // formatQuery does parse these kinds: a broken policy is refused.
    await expect(format('CREATE ROW POLICY OR REPLACE p ON db.t AS RESTRICTIVE FOR SELECT USING team IN (\'x\' TO r')).rejects.toThrow(/Syntax error/);
  });

  it('gives each row policy a filter that is valid against its table', async () => {
    const all = policies();
    expect(all.length).toBeGreaterThan(10);
    for (const policy of all) {
      const sql = `SELECT count() AS n FROM {db:Identifier}.{t:Identifier} WHERE ${policy.using}`;
      expect(await scalar(w, sql, { db: w.database, t: policy.table }), `${policy.name} ON ${policy.table}`).toBe(0);
    }
  });

  it('filters every table carrying the scope column, for that scope only', () => {
    const all = policies();
    const restrictive = (user: string): Policy[] => all.filter((p) => p.name === serverAccessName(user));
    const withTeam = tables.filter((t) => t.hasTeam).map((t) => t.table).sort();
    const withTenant = tables.filter((t) => t.hasTenant).map((t) => t.table).sort();
    expect(withTeam).toEqual(expect.arrayContaining(['cost_allocation', 'cpp_daily', 'inference_requests', 'inference_requests_dedup', 'request_hours']));
    expect(withTenant).toContain('cpp_alerts');

    const teams = restrictive(TEAMS_USER);
    expect(teams.map((p) => p.table).sort()).toEqual(withTeam);
    for (const p of teams) {
      expect(p).toMatchObject({ kind: 'RESTRICTIVE', using: scopeFilter({ teams: ['searchx', HOSTILE_TEAM] }), to: [serverAccessName(TEAMS_USER), TEAMS_USER] });
    }
    const tenants = restrictive(TENANTS_USER);
    expect(tenants.map((p) => p.table).sort()).toEqual(withTenant);
    for (const p of tenants) expect(p).toMatchObject({ kind: 'RESTRICTIVE', using: "tenant_id IN ('globexq')", to: [serverAccessName(TENANTS_USER), TENANTS_USER] });
    expect(restrictive(ALL_USER)).toEqual([]);

    // Everyone else, the all user and the service's own user too, keeps every row of each filtered table, from before the first filter.
    const open = all.filter((p) => p.name === ALL_ROWS_POLICY);
    const filtered = new Set([...teams, ...tenants].map((p) => p.table));
    expect(new Set(open.map((p) => p.table))).toEqual(new Set([...withTeam, ...withTenant]));
    for (const table of filtered) expect(open.find((p) => p.table === table)).toMatchObject({ kind: 'PERMISSIVE', using: '1', to: ['ALL'] });
    expect(Math.max(...open.map((p) => p.index))).toBeLessThan(Math.min(...teams.map((p) => p.index), ...tenants.map((p) => p.index)));

    // Policies of an earlier scope go: the all user's on every filterable table, the teams user's on tables with tenant_id only.
    expect(statements).toContain(`DROP ROW POLICY IF EXISTS ${sqlIdentifier(serverAccessName(ALL_USER))} ON ${[...new Set([...withTeam, ...withTenant])].sort().map((t) => `${sqlIdentifier(w.database)}.${sqlIdentifier(t)}`).join(', ')}`);
    const teamsDrop = statements.find((s) => s.startsWith(`DROP ROW POLICY IF EXISTS ${sqlIdentifier(serverAccessName(TEAMS_USER))} `)) ?? '';
    expect(teamsDrop).toContain('`cpp_alerts`');
    expect(teamsDrop).not.toContain('`cpp_daily`');
  });

  it('grants a scope its filtered and shared tables only, the all user the database', () => {
    const teams = granted(TEAMS_USER);
    expect(teams.tables.sort()).toEqual([...tables.filter((t) => t.hasTeam).map((t) => t.table), 'coverage_daily'].sort());
    const tenants = granted(TENANTS_USER);
    expect(tenants.tables.sort()).toEqual([...tables.filter((t) => t.hasTenant).map((t) => t.table), 'coverage_daily'].sort());
    for (const refused of ['pool_cost', 'billing_line_items', 'billing_current', 'query_audit', 'schema_migrations']) {
      expect(teams.tables).not.toContain(refused);
      expect(tenants.tables).not.toContain(refused);
    }
    expect(granted(ALL_USER).tables).toEqual(['*']);
    expect(statements[granted(ALL_USER).index]).toContain('SELECT ON information_schema.*, SELECT ON INFORMATION_SCHEMA.*');

    // Filters before grants; limits before the role reaches the user.
    const teamsPolicies = policies().filter((p) => p.name === serverAccessName(TEAMS_USER));
    expect(Math.max(...teamsPolicies.map((p) => p.index))).toBeLessThan(teams.index);
    const login = sqlIdentifier(TENANTS_USER);
    const giveRole = statements.indexOf(`GRANT ${sqlIdentifier(serverAccessName(TENANTS_USER))} TO ${login}`);
    expect(statementOf(`CREATE USER IF NOT EXISTS ${login} `)).toBeLessThan(statementOf(`CREATE SETTINGS PROFILE OR REPLACE ${sqlIdentifier(serverAccessName(TENANTS_USER))} `));
    expect(statementOf(`CREATE SETTINGS PROFILE OR REPLACE ${sqlIdentifier(serverAccessName(TENANTS_USER))} `)).toBeLessThan(giveRole);
    expect(statementOf(`CREATE QUOTA OR REPLACE ${sqlIdentifier(serverAccessName(TENANTS_USER))} `)).toBeLessThan(giveRole);
    expect(giveRole).toBeLessThan(statementOf(`ALTER USER ${login} `));
  });

  it('gives each user its limits, read-only, pinned so a query cannot lift them', () => {
    const name = sqlIdentifier(serverAccessName(TENANTS_USER));
    const login = sqlIdentifier(TENANTS_USER);
    expect(statements).toContain(
      `CREATE SETTINGS PROFILE OR REPLACE ${name} SETTINGS readonly = 2, max_memory_usage = 1000000 MIN 1 MAX 1000000, max_execution_time = 90 MIN 1 MAX 90, ` +
        `max_threads = 4 MIN 1 MAX 4, max_result_rows = 0, max_result_bytes = ${4 * 1024 ** 3} MIN 1 MAX ${4 * 1024 ** 3}, result_overflow_mode = 'throw', ` +
        `max_concurrent_queries_for_user = 3 MIN 1 MAX 3, log_queries = 1 CONST TO ${login}`,
    );
    expect(statements).toContain(`CREATE QUOTA OR REPLACE ${name} KEYED BY user_name FOR INTERVAL 1 minute MAX queries = 7 TO ${login}`);
    // The others have the queries section's.
    expect(statements.find((s) => s.startsWith(`CREATE QUOTA OR REPLACE ${sqlIdentifier(serverAccessName(ALL_USER))} `))).toContain(`MAX queries = ${queries.queriesPerMinute} `);
    expect(statements.find((s) => s.startsWith(`CREATE SETTINGS PROFILE OR REPLACE ${sqlIdentifier(serverAccessName(TEAMS_USER))} `))).toContain(
      `max_memory_usage = ${queries.maxMemoryBytes} MIN 1 MAX ${queries.maxMemoryBytes}`,
    );
  });

  it('carries password hashes only, never a password', () => {
    const text = statements.join('\n');
    for (const [i, password] of PASSWORDS.entries()) {
      expect(text).not.toContain(password);
      const user = access.users[i];
      expect(statements).toContain(`CREATE USER IF NOT EXISTS ${sqlIdentifier(user?.name ?? '')} IDENTIFIED WITH sha256_hash BY '${passwordSha256Hex(password)}' DEFAULT DATABASE ${sqlIdentifier(w.database)}`);
    }
  });

  it('keeps hostile names and values whole', async () => {
    // The team literal: escaped in the statement, intact once the engine parses it.
    const policy = statements.find((s) => s.startsWith(`CREATE ROW POLICY OR REPLACE ${sqlIdentifier(serverAccessName(TEAMS_USER))} `)) ?? '';
    expect(await format(policy)).toContain("team IN ('searchx', 'a\\'b\\\\c')");
    const using = policies().find((p) => p.name === serverAccessName(TEAMS_USER))?.using ?? '';
    const matches = `SELECT toUInt64(${using}) AS n FROM (SELECT {team:String} AS team)`;
    expect(await scalar(w, matches, { team: HOSTILE_TEAM })).toBe(1);
    expect(await scalar(w, matches, { team: "a'b" })).toBe(0);

    // A user name with dots, @ and -: one identifier, not a user at a host.
    const create = statements.find((s) => s.startsWith(`CREATE USER IF NOT EXISTS ${sqlIdentifier(TENANTS_USER)} `)) ?? '';
    expect(await format(create)).toContain(`CREATE USER IF NOT EXISTS \`${TENANTS_USER}\` IDENTIFIED WITH sha256_hash BY`);
    expect(await format(`GRANT ${sqlIdentifier(serverAccessName(TENANTS_USER))} TO ${sqlIdentifier(TENANTS_USER)}`)).toBe(`GRANT \`inferledger_${TENANTS_USER}\` TO \`${TENANTS_USER}\``);

    // Any identifier: what the engine reads back is the name given.
    for (const name of ['a`b', 'c\\`d', 'e\\', '`', 'f\ng', "h'i"]) {
      const sql = `SELECT 1 AS ${sqlIdentifier(name)}`;
      const rows = await w.query(sql, {}, z.record(z.string(), z.unknown()));
      expect(Object.keys(rows[0] ?? {})).toEqual([name]);
    }
  });

  it('gives nothing without users, and refuses a role named as another user', () => {
    expect(serverAccessStatements({ database: 'db', access: configSchema.shape.access.parse({}), queries, tables })).toEqual([]);
    const clash = configSchema.shape.access.parse({
      users: [
        { name: 'bob', password_sha256_hex: passwordSha256Hex('x'), scope: { teams: ['t'] } },
        { name: 'inferledger_bob', password_sha256_hex: passwordSha256Hex('y'), scope: 'all' },
      ],
    });
    expect(() => serverAccessStatements({ database: 'db', access: clash, queries, tables })).toThrow(/inferledger_bob/);
  });

  it('reads the tables from the warehouse', async () => {
    expect(await serverAccessStatementsFor(w, { access, queries })).toEqual(statements);
  });
});
