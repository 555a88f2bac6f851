/**
 * Users and scopes on a running service, from the clients analysts use: the
 * ClickHouse JDBC driver with its default settings and `@clickhouse/client`
 * query `inferledger run`'s endpoint as a team's user, a tenant's user and
 * finance, and each sees exactly its rows. The CLI on the same machine still
 * reads everything through the service (its token), and `inferledger access`
 * prints a password's hash, the audit of those queries and the statements
 * for a ClickHouse server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordSha256Hex } from '../src/access/authenticate.js';
import { EXIT, main } from '../src/cli/main.js';
import { configSchema } from '../src/config/config.js';
import { runService } from '../src/service/run-service.js';
import { findRunningService } from '../src/service/service-discovery.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { tempDir } from './helpers/files.js';
import { runJdbc, type JdbcResult } from './helpers/jdbc.js';
import { freePort } from './helpers/ports.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { seedScopedMonth, TEAMS, TENANTS } from './helpers/scoped-data.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse, TEST_DATA_DIR } from './helpers/warehouse.js';

const USERS = {
  search: { password: 'pw-search', scope: { teams: ['searchx'] } },
  globex: { password: 'pw-globex', scope: { tenants: ['globexq'] } },
  finance: { password: 'pw-finance', scope: 'all' },
} as const;

let w: Warehouse;
let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
  w = await freshWarehouse();
  await seedScopedMonth(w);
});

afterAll(async () => {
  await redis.dispose();
  await discardWarehouse(w);
});

describe('a running service with users and scopes', () => {
  it('the JDBC driver and @clickhouse/client see only their scope, finance sees all, and the CLI reads the audit', async () => {
    const queryPort = await freePort();
    const fileConfig = {
      warehouse: { dataDir: TEST_DATA_DIR, database: w.database },
      redis: { url: redis.url },
      jobs: { prefix: uniquePrefix(), billingPull: false, shutdownGraceMs: 5_000 },
      service: { queryPort },
      access: { users: Object.entries(USERS).map(([name, u]) => ({ name, password_sha256_hex: passwordSha256Hex(u.password), scope: u.scope })) },
    };
    const dir = tempDir();
    const configFile = join(dir, 'inferledger.json');
    writeFileSync(configFile, JSON.stringify(fileConfig));
    const cli = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['--config', configFile, ...args], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };

    let stop: (reason: string) => void = () => undefined;
    const lines: string[] = [];
    const service = runService({ jobs: JOB_REGISTRY, role: 'all', config: configSchema.parse(fileConfig), warehouse: w, log: (l) => { lines.push(l); }, stop: new Promise((resolve) => { stop = resolve; }) });
    try {
      await waitFor(() => findRunningService(TEST_DATA_DIR)?.port === queryPort, { what: 'the discovery file' });
      expect(lines).toContain(`queries: read-only ClickHouse HTTP interface at http://127.0.0.1:${queryPort} (database ${w.database}, 3 users with scopes)`);

      // The JDBC driver, default settings, one JVM: the team's user, then the tenant's and finance's connections.
      const teams = 'SELECT DISTINCT team FROM cost_allocation ORDER BY team';
      const tenants = 'SELECT DISTINCT tenant_id FROM cost_allocation ORDER BY tenant_id';
      const { results, stderr } = await runJdbc(`jdbc:clickhouse://127.0.0.1:${queryPort}/${w.database}`, 'search', USERS.search.password, [
        ['query', teams],
        ['prepared', 'SELECT count() FROM inference_requests WHERE team != ?', 'searchx'],
        ['query', 'SELECT * FROM pool_cost'],
        ['as', 'globex', USERS.globex.password, '', tenants],
        ['as', 'finance', USERS.finance.password, '', teams],
        ['as', 'search', 'not-the-password', '', 'SELECT 1'],
      ]);
      const check = (i: number): JdbcResult | undefined => results.find((r) => r.check === i);
      const context = `stderr of the JVM:\n${stderr}`;
      expect(results[0], context).toMatchObject({ check: 'connect', ok: true });
      expect(check(0), context).toMatchObject({ ok: true, rows: [['searchx']] });
      expect(check(1), context).toMatchObject({ ok: true, rows: [['0']] });
      expect(check(2), context).toMatchObject({ ok: false, error: { code: 164, message: expect.stringMatching(/table pool_cost is outside your scope/) as unknown } });
      expect(check(3), context).toMatchObject({ ok: true, rows: [['globexq']] });
      expect(check(4), context).toMatchObject({ ok: true, rows: [...TEAMS].sort().map((t) => [t]) });
      expect(check(5), context).toMatchObject({ ok: false, error: { code: 516 } });

      // @clickhouse/client, as each user.
      const read = async (user: keyof typeof USERS, query: string): Promise<unknown[]> => {
        const client = createClient({ url: `http://127.0.0.1:${queryPort}`, username: user, password: USERS[user].password, database: w.database });
        try {
          return await (await client.query({ query, format: 'JSONEachRow' })).json();
        } finally {
          await client.close();
        }
      };
      expect(await read('globex', tenants)).toEqual([{ tenant_id: 'globexq' }]);
      expect(await read('search', 'SELECT DISTINCT team FROM cpp_daily')).toEqual([{ team: 'searchx' }]);
      expect(await read('finance', tenants)).toEqual([...TENANTS].sort().map((tenant_id) => ({ tenant_id })));

      // The CLI on this machine: every row, through the service, with users configured.
      expect(await cli(['sql', teams, '--format', 'csv'])).toEqual({ code: EXIT.ok, out: ['"team"', ...[...TEAMS].sort().map((t) => `"${t}"`)].join('\n'), err: '' });
      // The audit, once the service has written it: in batches about a second apart, so until the last
      // outcome expected (the wrong password, asked last) is in, not merely a number of rows.
      let log = { code: -1, out: '', err: '' };
      await waitFor(async () => {
        log = await cli(['access', 'log', '--user', 'search', '--json']);
        const outcomes = new Set(log.out.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { outcome: string }).outcome));
        return ['ok', 'error', 'unauthenticated'].every((o) => outcomes.has(o));
      }, { what: 'the audit of the JDBC queries', timeoutMs: 15_000 });
      const audited = log.out.split('\n').map((l) => JSON.parse(l) as { user: string; outcome: string; query: string; error_code: number });
      expect(audited.every((r) => r.user === 'search')).toBe(true);
      expect(audited.map((r) => r.outcome)).toEqual(expect.arrayContaining(['ok', 'error', 'unauthenticated']));
      expect(audited.find((r) => r.query.includes('pool_cost'))).toMatchObject({ outcome: 'error', error_code: 164 });
      const table = await cli(['access', 'log', '--outcome', 'unauthenticated']);
      expect(table.code).toBe(EXIT.ok);
      expect(table.out).toMatch(/unauthenticated/);

      const statements = await cli(['access', 'sql']);
      expect(statements.code).toBe(EXIT.ok);
      expect(statements.out).toContain(`ON \`${w.database}\`.\`cost_allocation\` AS RESTRICTIVE FOR SELECT USING team IN ('searchx')`);
      expect(statements.out).not.toContain('pw-search');
    } finally {
      stop('test over');
      await service;
    }

    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'pw-search\n');
    expect(await cli(['access', 'password', '--from-file', passwordFile])).toEqual({ code: EXIT.ok, out: passwordSha256Hex('pw-search'), err: '' });
  });
});
