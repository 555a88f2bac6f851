/**
 * Retention on the real engine: whole months of raw requests and refused
 * lines older than the horizon are dropped, raw requests only once the hourly
 * groups of their days match them; nothing else is touched; a second run
 * changes nothing; a month that does not match is kept with the reason; the
 * scheduled job and `inferledger retention apply` run it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeDay } from '../src/attribution/attribute.js';
import { main } from '../src/cli/main.js';
import { configSchema, type Config } from '../src/config/config.js';
import { applyRetention } from '../src/retention/apply.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { QUEUES } from '../src/scheduler/contract.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { settings, snapshot } from './helpers/attribution.js';
import { billingLine, HOUR, insertBilling, insertRequests } from './helpers/data.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse, scalar, TEST_DATA_DIR } from './helpers/warehouse.js';

const AUG10 = Date.UTC(2026, 7, 10);
const AUG11 = Date.UTC(2026, 7, 11);
const SEP20 = Date.UTC(2026, 8, 20);
const NOV5 = Date.UTC(2026, 10, 5);
/** Horizons: requests 2026-09-16 (90 days), rejects 2026-11-15 (30 days): August of requests goes, August and October of rejects. */
const NOW = Date.UTC(2026, 11, 15, 12);
const keep = (retention: Partial<Config['retention']> = {}): Pick<Config, 'retention'> => configSchema.pick({ retention: true }).parse({ retention: { rejectDays: 30, ...retention } });

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const partitionRow = z.object({ partition: z.string() });
async function partitions(table: string): Promise<string[]> {
  const rows = await w.query('SELECT DISTINCT partition_id AS partition FROM system.parts WHERE database = currentDatabase() AND table = {t:String} AND active ORDER BY partition', { t: table }, partitionRow);
  return rows.map((r) => r.partition);
}

async function reject(at: number): Promise<void> {
  await w.insertObjects('ingest_rejects', [{
    rejected_at: new Date(at).toISOString().slice(0, 23).replace('T', ' '), run_id: randomUUID(), kind: 'requests', source: 'f.ndjson', line: 1, field: 'ts', reason: 'bad', raw: '{}',
  }]);
}

/** Requests on Aug 10 (a duplicate raw copy too, attributed against a bill), Aug 11 (never attributed), Sep 20 and Nov 5; rejects in Aug, Oct and Nov. */
async function seed(): Promise<void> {
  await insertBilling(w, [billingLine({ start: AUG10 + HOUR, effective_cost: '9' })]);
  await insertRequests(w, [
    { id: 'a1', ts: AUG10 + HOUR, tenant: 'x' }, { id: 'a2', ts: AUG10 + HOUR + 1, tenant: 'y' }, { id: 'a3', ts: AUG10 + HOUR + 2, tenant: 'y' },
    { id: 'b1', ts: AUG11 + 5 * HOUR }, { id: 'b2', ts: AUG11 + 7 * HOUR },
    { id: 's1', ts: SEP20 }, { id: 'n1', ts: NOV5 },
  ]);
  await w.command("INSERT INTO inference_requests SELECT * FROM inference_requests WHERE request_id = 'a2'");
  for (const at of [AUG10, Date.UTC(2026, 9, 3), NOV5]) await reject(at);
  await attributeDay(w, settings(), AUG10);
}

const dayRow = z.object({ day: z.string(), requests: z.coerce.number(), group_rows: z.coerce.number(), raw_rows: z.coerce.number() });
const runRow = z.object({ table_name: z.string(), keep_days: z.coerce.number(), horizon: z.string(), kept_from: z.string(), dropped_partitions: z.array(z.string()), dropped_rows: z.coerce.number(), refused: z.array(z.string()) });

describe('retention apply', () => {
  it('drops whole months older than the horizon, raw requests once their hourly groups match, and nothing else', async () => {
    await seed();
    const attributed = await snapshot(w);
    const billingRows = await scalar(w, 'SELECT count() AS n FROM billing_line_items');
    const result = await applyRetention(w, keep(), { now: NOW });
    expect(result.tables).toEqual([
      { table: 'inference_requests', keepDays: 90, horizon: '2026-09-16', keptFrom: '2026-09-01', partitions: [{ partition: '202608', rows: 6, action: 'dropped', reasons: [] }] },
      { table: 'ingest_rejects', keepDays: 30, horizon: '2026-11-15', keptFrom: '2026-11-01', partitions: [
        { partition: '202608', rows: 1, action: 'dropped', reasons: [] }, { partition: '202610', rows: 1, action: 'dropped', reasons: [] },
      ] },
    ]);
    expect(await partitions('inference_requests')).toEqual(['202609', '202611']);
    expect(await partitions('ingest_rejects')).toEqual(['202611']);
    // Aug 11 was never attributed: its groups were built before its rows went.
    expect(await w.query('SELECT toString(toDate(hour)) AS day, sum(requests) AS requests FROM request_hours GROUP BY day ORDER BY day', {}, z.object({ day: z.string(), requests: z.coerce.number() })))
      .toEqual([{ day: '2026-08-10', requests: 3 }, { day: '2026-08-11', requests: 2 }]);
    // Every day of August is on record, with what its groups hold.
    const days = await w.query('SELECT toString(day) AS day, requests, group_rows, raw_rows FROM retention_days ORDER BY day', {}, dayRow);
    expect(days).toHaveLength(31);
    expect(days.filter((d) => d.requests > 0)).toEqual([
      { day: '2026-08-10', requests: 3, group_rows: 2, raw_rows: 4 },
      { day: '2026-08-11', requests: 2, group_rows: 2, raw_rows: 2 },
    ]);
    expect(await w.query('SELECT table_name, keep_days, toString(horizon) AS horizon, toString(kept_from) AS kept_from, dropped_partitions, dropped_rows, refused FROM retention_runs ORDER BY table_name', {}, runRow)).toEqual([
      { table_name: 'inference_requests', keep_days: 90, horizon: '2026-09-16', kept_from: '2026-09-01', dropped_partitions: ['202608'], dropped_rows: 6, refused: [] },
      { table_name: 'ingest_rejects', keep_days: 30, horizon: '2026-11-15', kept_from: '2026-11-01', dropped_partitions: ['202608', '202610'], dropped_rows: 2, refused: [] },
    ]);
    // Attribution, the bill and the groups are untouched; the trimmed day attributes alike from its groups.
    expect(await snapshot(w)).toEqual(attributed);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(billingRows);
    await attributeDay(w, settings(), AUG10);
    expect(await snapshot(w)).toEqual(attributed);
  });

  it('is idempotent: a second run drops nothing and changes nothing but its own record', async () => {
    await seed();
    await applyRetention(w, keep(), { now: NOW });
    const tables = async (): Promise<unknown[]> => w.query(
      'SELECT * EXCEPT built_at FROM request_hours ORDER BY ALL', {}, z.record(z.string(), z.unknown()),
    ).then(async (groups) => [groups, await w.query('SELECT * FROM retention_days ORDER BY ALL', {}, z.record(z.string(), z.unknown())), await partitions('inference_requests'), await partitions('ingest_rejects')]);
    const first = await tables();
    const again = await applyRetention(w, keep(), { now: NOW });
    expect(again.tables.map((t) => t.partitions)).toEqual([[], []]);
    expect(await tables()).toEqual(first);
    expect(await scalar(w, 'SELECT count() AS n FROM retention_runs')).toBe(4);
  });

  it('keeps a month whose days do not match their hourly groups, or whose trimmed days lost them, and says why', async () => {
    await seed();
    // Aug 10's groups claim one request more than its raw rows hold (kept self-consistent, so not rebuilt).
    await w.command("ALTER TABLE request_hours UPDATE requests = requests + 1 WHERE tenant_id = 'x'", {}, { mutations_sync: '2' });
    await w.command("ALTER TABLE request_hours UPDATE hour_requests = hour_requests + 1 WHERE toDate(hour) = '2026-08-10'", {}, { mutations_sync: '2' });
    const dry = await applyRetention(w, keep(), { now: NOW, dryRun: true });
    const refusal = '2026-08-10: its hourly groups hold 4 requests, its raw rows 3 (deduplicated): kept until they match (rows still arriving? run retention again)';
    expect(dry.tables[0]?.partitions).toEqual([{ partition: '202608', rows: 6, action: 'refused', reasons: [refusal] }]);
    const result = await applyRetention(w, keep(), { now: NOW });
    expect(result.tables[0]?.partitions).toEqual([{ partition: '202608', rows: 6, action: 'refused', reasons: [refusal] }]);
    expect(await partitions('inference_requests')).toEqual(['202608', '202609', '202611']);
    expect(await scalar(w, 'SELECT count() AS n FROM retention_days')).toBe(0);
    expect(await w.query("SELECT refused FROM retention_runs WHERE table_name = 'inference_requests'", {}, z.object({ refused: z.array(z.string()) }))).toEqual([{ refused: [`202608: ${refusal}`] }]);

    // Mended (the groups rebuilt from the raw rows), August goes; then its groups are lost and a late row makes the month anew.
    await w.command("ALTER TABLE request_hours DELETE WHERE toDate(hour) = '2026-08-10'", {}, { mutations_sync: '2' });
    expect((await applyRetention(w, keep(), { now: NOW })).tables[0]?.partitions.map((p) => p.action)).toEqual(['dropped']);
    await w.command('ALTER TABLE request_hours DROP PARTITION 20260811');
    await insertRequests(w, [{ id: 'late', ts: AUG11 + HOUR }]);
    const lost = await applyRetention(w, keep(), { now: NOW });
    expect(lost.tables[0]?.partitions).toEqual([{ partition: '202608', rows: 1, action: 'refused', reasons: [
      expect.stringMatching(/^2026-08-11: not attributed: its raw requests were removed by retention on \d{4}-\d{2}-\d{2} \(2 requests in 2 hourly groups\), and request_hours now holds 0 requests in 0 groups for it/),
    ] }]);
    expect(await partitions('inference_requests')).toEqual(['202608', '202609', '202611']);
  });

  it('on a dry run says what would go and what it would build first, and changes nothing', async () => {
    await seed();
    const before = await Promise.all([partitions('inference_requests'), partitions('ingest_rejects'), scalar(w, 'SELECT count() AS n FROM request_hours')]);
    const dry = await applyRetention(w, keep(), { now: NOW, dryRun: true });
    expect(dry.tables.map((t) => t.partitions)).toEqual([
      [{ partition: '202608', rows: 6, action: 'would drop', reasons: ['would first build the hourly groups of 1 day(s) from their raw rows (2026-08-11)'] }],
      [{ partition: '202608', rows: 1, action: 'would drop', reasons: [] }, { partition: '202610', rows: 1, action: 'would drop', reasons: [] }],
    ]);
    expect(await Promise.all([partitions('inference_requests'), partitions('ingest_rejects'), scalar(w, 'SELECT count() AS n FROM request_hours')])).toEqual(before);
    expect(await scalar(w, 'SELECT count() AS n FROM retention_runs')).toBe(0);
  });
});

describe('retention, run by the service and the CLI', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis.dispose();
  });

  it('the scheduled job applies it and reports what it kept', async () => {
    await seed();
    const config = configSchema.parse({ redis: { url: redis.url }, jobs: { prefix: uniquePrefix() }, retention: { rejectDays: 30 } });
    const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined, clock: () => NOW });
    try {
      r.startWorkers(w);
      const id = await r.runNow('retention', {});
      const queue = r.queue(QUEUES.retention);
      await waitFor(async () => (await queue.getJobState(id)) === 'completed', { what: 'the retention job', timeoutMs: 60_000 });
      const job = await queue.getJob(id);
      expect(job?.returnvalue).toMatchObject({ windows: ['inference_requests/202608', 'ingest_rejects/202608', 'ingest_rejects/202610'], owed: 0 });
      expect(await partitions('inference_requests')).toEqual(['202609', '202611']);
      expect(await w.query('SELECT job_id FROM retention_runs LIMIT 1', {}, z.object({ job_id: z.string() }))).toEqual([{ job_id: id }]);
    } finally {
      await r.close(5_000);
    }
  });

  it('`inferledger retention apply` dry-runs, applies, and prints JSON', async () => {
    // January 2020 is older than any horizon the wall clock gives.
    await insertRequests(w, [{ id: 'old', ts: Date.UTC(2020, 0, 5) }]);
    const run = async (...args: string[]): Promise<{ code: number; out: string[] }> => {
      const out: string[] = [];
      const code = await main(['--data-dir', TEST_DATA_DIR, '--database', w.database, 'retention', 'apply', ...args], { out: (l) => { out.push(l); }, err: () => undefined, env: {} });
      return { code, out };
    };
    const dry = await run('--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('  202001: would drop (1 rows)');
    expect(await partitions('inference_requests')).toEqual(['202001']);
    const applied = await run('--json');
    expect(applied.code).toBe(0);
    const parsed = z.object({ dryRun: z.boolean(), tables: z.array(z.object({ table: z.string(), partitions: z.array(z.object({ partition: z.string(), action: z.string() })) })) }).parse(JSON.parse(applied.out.join('\n')));
    expect(parsed.tables[0]).toMatchObject({ table: 'inference_requests', partitions: [{ partition: '202001', action: 'dropped' }] });
    expect(await partitions('inference_requests')).toEqual([]);
  });
});
