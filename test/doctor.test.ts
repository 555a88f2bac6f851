/**
 * `inferledger doctor` against real engines: the embedded warehouse (directly,
 * and through the query endpoint of a service holding it), the test broker and
 * a private redis-server. Each FAIL is produced for real (a broker nobody
 * runs, a Redis nobody runs, a pool with traffic and no bill, a job failed by
 * the runtime) and reported with its fix, the other checks going on; an
 * installation in order exits 0; the JSON report has the documented shape.
 */
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EXIT, main } from '../src/cli/main.js';
import { configSchema, type Config } from '../src/config/config.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { startQueryEndpoint } from '../src/service/query-endpoint.js';
import { discoveryPath, writeDiscovery } from '../src/service/service-discovery.js';
import { DAY_MS, dayStart, HOUR_MS } from '../src/util/time.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { brokers, freshTopic, uniqueGroup } from './helpers/kafka.js';
import { freePort } from './helpers/ports.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse, TEST_DATA_DIR, testWarehouseConfig } from './helpers/warehouse.js';
import { queuesSettled } from './helpers/jobs.js';

const status = z.enum(['OK', 'WARN', 'FAIL']);
/** The `--json` report, as docs/operations.md describes it. */
const reportSchema = z.object({
  version: z.literal(1),
  checkedAt: z.iso.datetime(),
  status,
  exitCode: z.union([z.literal(0), z.literal(1)]),
  counts: z.object({ OK: z.number().int().min(0), WARN: z.number().int().min(0), FAIL: z.number().int().min(0) }).strict(),
  checks: z.array(z.object({
    name: z.string().min(1),
    group: z.string().min(1),
    status,
    detail: z.string().min(1),
    fix: z.string(),
    ms: z.number().int().min(0),
    data: z.record(z.string(), z.unknown()),
  }).strict()),
  skipped: z.array(z.string()),
}).strict();
type Report = z.infer<typeof reportSchema>;

const ALL_CHECKS = ['warehouse', 'redis', 'kafka', 'jobs', 'owed-windows', 'freshness', 'pending-bill', 'unknown-pools', 'unallocated', 'estimated', 'billing', 'alerts', 'disk', 'free-space', 'retention'];

let redis: TestRedis;
let topic: string;
beforeAll(async () => {
  [redis, topic] = await Promise.all([startTestRedis(), freshTopic(1)]);
});
afterAll(async () => {
  await redis.dispose();
});

let w: Warehouse;
let prefix: string;
const runtimes: JobRuntime[] = [];
beforeEach(async () => {
  w = await freshWarehouse();
  prefix = uniquePrefix();
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close(5_000)));
  await discardWarehouse(w);
});

/** What every run of the doctor here is configured with; a test overrides what it breaks. */
function env(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    INFERLEDGER_DATA_DIR: TEST_DATA_DIR,
    CLICKHOUSE_DATABASE: w.database,
    REDIS_URL: redis.url,
    INFERLEDGER_JOBS_PREFIX: prefix,
    KAFKA_BROKERS: brokers().join(','),
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: uniqueGroup(),
    // The bill comes as files here: no Cost Explorer pull is expected.
    INFERLEDGER_BILLING_PULL: 'false',
    ...overrides,
  };
}

async function cli(args: string[], environment: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: environment, jobs: () => Promise.resolve(JOB_REGISTRY) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function doctorJson(environment: Record<string, string>, extra: string[] = []): Promise<{ code: number; report: Report }> {
  const { code, out } = await cli(['doctor', '--json', ...extra], environment);
  return { code, report: reportSchema.parse(JSON.parse(out)) };
}

function line(report: Report, name: string): Report['checks'][number] {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} line in the report`);
  return found;
}

/** A job runtime with workers on this test's warehouse and queues, as `inferledger run` has. */
function runtime(): JobRuntime {
  const config: Config = configSchema.parse({
    redis: { url: redis.url },
    jobs: { prefix, billingPull: false, backoffMs: 100, dayLockMs: 3_000, attributeDebounceMs: 0 },
    report: { scheduled: [] },
  });
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined });
  r.startWorkers(w);
  runtimes.push(r);
  return r;
}

const settled = (r: JobRuntime): Promise<void> => queuesSettled(r, 60_000);

/** Yesterday 10:00 UTC: inside the window the service attributes, old enough to be billed, young enough for retention. */
const yesterday = (): number => dayStart(Date.now()) - DAY_MS + 10 * HOUR_MS;

describe('inferledger doctor', () => {
  it('exits 0 with every check OK on an installation in order, read through the running service\'s query endpoint', async () => {
    const start = yesterday();
    await insertBilling(w, [billingLine({ pool: 'gpu-a', start, effective_cost: '12.50' })]);
    await insertRequests(w, [{ id: 'ok-1', ts: start + 1_000, pool: 'gpu-a' }, { id: 'ok-2', ts: start + 2_000, pool: 'gpu-a' }]);
    const r = runtime();
    await r.runNow('attribute', {});
    await settled(r);

    // A service of another process holds the data directory: the doctor reads through its query endpoint.
    const session = await openWarehouse(testWarehouseConfig(w.database));
    const endpoint = await startQueryEndpoint({ warehouse: session, host: '127.0.0.1', port: 0, queries: configSchema.shape.queries.parse(undefined), log: () => undefined });
    writeDiscovery(TEST_DATA_DIR, { pid: process.ppid, host: '127.0.0.1', port: endpoint.port, database: w.database, startedAt: new Date().toISOString() });
    try {
      const { code, report } = await doctorJson(env());
      const notOk = report.checks.filter((c) => c.status !== 'OK' && c.name !== 'free-space').map((c) => `${c.status} ${c.name}: ${c.detail} / ${c.fix}`);
      expect(notOk).toEqual([]);
      // The machine's own disk is not the test's to decide; only a full one would fail.
      expect(line(report, 'free-space').status).not.toBe('FAIL');
      expect(code).toBe(EXIT.ok);
      expect(report).toMatchObject({ exitCode: 0, skipped: [] });
      expect(report.checks.map((c) => c.name)).toEqual(ALL_CHECKS);
      expect(line(report, 'warehouse').detail).toMatch(new RegExp(`^the query endpoint of \`inferledger run\` \\(pid ${process.ppid}\\) at http://127\\.0\\.0\\.1:${endpoint.port}, database ${w.database}: schema \\d{4}_\\w+, current`));
      expect(line(report, 'pending-bill').detail).toMatch(/^no request waits for its bill \(2 requests since \d{4}-\d{2}-01\)$/);
      expect(line(report, 'jobs').detail).toMatch(/none failing; newest run /);
      expect(line(report, 'freshness').data).toMatchObject({ openDays: 0 });
      expect(line(report, 'billing').detail).toMatch(/^last file import focus-file \S+ ago$/);
      expect(line(report, 'kafka').detail).toContain(`topic ${topic}: 1 partition`);

      const text = await cli(['doctor'], env());
      expect(text.code).toBe(EXIT.ok);
      const lines = text.out.split('\n');
      expect(lines[0]).toMatch(/^inferledger doctor at \d{4}-\d{2}-\d{2}T/);
      expect(lines.slice(1, -1).map((l) => /^(OK|WARN|FAIL) +(\S+) {2}/.exec(l)?.[2])).toEqual(ALL_CHECKS);
      expect(lines.at(-1)).toMatch(/^15 checks: 1[45] OK, [01] WARN, 0 FAIL \(exit 0/);
    } finally {
      rmSync(discoveryPath(TEST_DATA_DIR), { force: true });
      await endpoint.close();
      await session.close();
    }
  });

  it('broker down: kafka FAILs at once with its fix, and the other checks go on', async () => {
    const { code, report } = await doctorJson(env({ KAFKA_BROKERS: `127.0.0.1:${await freePort()}` }));
    expect(code).toBe(EXIT.failed);
    const kafka = line(report, 'kafka');
    expect(kafka).toMatchObject({ status: 'FAIL', fix: 'start the broker, or set kafka.brokers (KAFKA_BROKERS)' });
    expect(kafka.detail).toMatch(/^no broker answers at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    // No waiting out the client's reconnects.
    expect(kafka.ms).toBeLessThan(5_000);
    expect(line(report, 'warehouse').status).toBe('OK');
    expect(line(report, 'redis').status).toBe('OK');
    expect(report).toMatchObject({ status: 'FAIL', exitCode: 1 });
  });

  it('Redis down: redis FAILs with its fix, the job checks say they could not look, the warehouse checks go on', async () => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    const { code, out } = await cli(['doctor'], env({ REDIS_URL: down }));
    expect(code).toBe(EXIT.failed);
    expect(out).toMatch(new RegExp(`^FAIL  redis +${down.replaceAll('.', '\\.')} does not answer: .* — fix: start Redis, or set redis\\.url \\(REDIS_URL\\)$`, 'm'));
    expect(out).toMatch(/^FAIL {2}jobs +not checked: Redis is not reachable — fix: see the redis line$/m);
    expect(out).toMatch(/^FAIL {2}owed-windows +not checked: Redis is not reachable — fix: see the redis line$/m);
    expect(out).toMatch(/^OK {4}warehouse /m);
    expect(out).toMatch(/^OK {4}freshness /m);
    expect(out.split('\n').at(-1)).toMatch(/^15 checks: \d+ OK, \d+ WARN, 3 FAIL \(exit 1: a FAIL needs a person\)$/);
  });

  it('a pool with traffic and no bill: unknown-pools FAILs naming the pool, with the tag that fixes it', async () => {
    const start = yesterday();
    await insertBilling(w, [billingLine({ pool: 'gpu-a', start, effective_cost: '8' })]);
    await insertRequests(w, [
      { id: 'a-1', ts: start + 1_000, pool: 'gpu-a' },
      { id: 'b-1', ts: start + 2_000, pool: 'gpu-b' },
      { id: 'b-2', ts: start + 3_000, pool: 'gpu-b' },
    ]);
    const day = new Date(dayStart(start)).toISOString().slice(0, 10);
    const attributed = await cli(['attribute', '--from', day, '--to', new Date(dayStart(start) + DAY_MS).toISOString().slice(0, 10)], env());
    expect(attributed.code).toBe(EXIT.ok);

    const { code, report } = await doctorJson(env(), ['--skip', 'kafka,redis']);
    expect(code).toBe(EXIT.failed);
    expect(line(report, 'unknown-pools')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(new RegExp(`^2 requests since \\S+ ran on pools the bill does not know: gpu-b \\(2 requests, ${day}\\)$`)) as unknown,
      fix: expect.stringContaining('inference-pool=<pool id> on the bill (billing.poolTagKey') as unknown,
      data: { requests: 2, pools: [{ pool_id: 'gpu-b', requests: 2 }] },
    });
    expect(line(report, 'pending-bill').status).toBe('OK');
    expect(report.skipped).toEqual(['redis', 'kafka']);
    expect(report.checks.map((c) => c.name)).not.toContain('kafka');
  });

  it('a job the runtime failed: jobs FAILs with its error and the retry that fixes it', async () => {
    const r = runtime();
    await r.queue(QUEUES.attribute).add('attribute-day', { day: '2026-13-01', inputVersion: 'x' }, { jobId: 'doctor-bad', attempts: 3 });
    await waitFor(async () => (await r.queue(QUEUES.attribute).getJobState('doctor-bad')) === 'failed', { what: 'the bad job to fail' });

    const { code, report } = await doctorJson(env(), ['--skip', 'kafka']);
    expect(code).toBe(EXIT.failed);
    const jobs = line(report, 'jobs');
    expect(jobs).toMatchObject({ status: 'FAIL', fix: 'fix the cause, then `inferledger jobs retry attribute-day` (details: inferledger jobs list)' });
    expect(jobs.detail).toMatch(/^attribute-day: newest run failed \S+ ago: bad payload for attribute-day: day: .*inputVersion: must be 16 hex digits/);
    expect(line(report, 'redis').status).toBe('OK');
    expect(line(report, 'warehouse').status).toBe('OK');
  });

  it('no data directory: the warehouse FAILs without one being made, and freshness falls back on the worker\'s record in Redis', async () => {
    const missing = join(TEST_DATA_DIR, '..', `no-such-dir-${prefix}`);
    const through = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS).toISOString();
    const client = new Redis(redis.url);
    try {
      await client.set(`${prefix}:freshness`, JSON.stringify({ through, at: new Date().toISOString(), openDays: 0 }));
    } finally {
      client.disconnect();
    }
    const { code, report } = await doctorJson(env({ INFERLEDGER_DATA_DIR: missing }), ['--skip', 'kafka']);
    expect(code).toBe(EXIT.failed);
    expect(line(report, 'warehouse')).toMatchObject({ status: 'FAIL', detail: `no warehouse at ${resolve(missing)}: the data directory does not exist` });
    expect(line(report, 'warehouse').fix).toContain('warehouse.dataDir (INFERLEDGER_DATA_DIR, --data-dir)');
    expect(line(report, 'alerts')).toMatchObject({ status: 'FAIL', detail: 'not checked: the warehouse is not reachable', fix: 'see the warehouse line' });
    expect(line(report, 'freshness')).toMatchObject({ status: 'OK', data: { attributedThrough: through, openDays: 0 } });
    expect(line(report, 'freshness').detail).toMatch(/\(as a worker recorded it \S+ ago \(the warehouse did not answer\)\)$/);
    expect(existsSync(missing)).toBe(false);
  });

  it('refuses a --skip it does not know, with exit 2', async () => {
    const { code, err } = await cli(['doctor', '--skip', 'kafak'], env());
    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(/--skip: no check or group kafak \(known: .*kafka/);
  });
});
