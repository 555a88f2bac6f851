/**
 * The attribution settings follow the database: recorded on first use, used
 * by a later process that configures none, a process with other settings
 * refused before it writes anything unless it adopts them, and the history
 * kept. Then the scenario it exists for, on a real Redis: a database
 * attributed with a feature -> team mapping the service does not know, and
 * the service's attribute job leaving its teams as they were.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import {
  AttributionSettingsConflict,
  RecordedSettingsError,
  attributionSettingsFor,
  attributionSettingsHistory,
  recordedAttributionSettings,
  settingsDifferences,
  type SettingsOptions,
} from '../src/attribution/recorded-settings.js';
import { configSchema, type Config } from '../src/config/config.js';
import { ReportError } from '../src/report/chargeback.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { settingsHash } from '../src/scheduler/watermarks.js';
import { DAY_MS, formatDate, parseDate, parseMonth } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { settings, snapshot } from './helpers/attribution.js';
import { billingLine, HOUR, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { queuesSettled } from './helpers/jobs.js';

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const DAYS = ['2026-10-30', '2026-10-31'];
const FROM = new Date(parseDate(DAYS[0] ?? ''));
const TO = new Date(parseDate(DAYS.at(-1) ?? '') + DAY_MS);

/** Demo-like traffic: two features of one model without teams on their events, a billed pool-hour per day. */
async function traffic(): Promise<void> {
  for (const day of DAYS) {
    const start = parseDate(day) + 10 * HOUR;
    await insertBilling(w, [billingLine({ start, billed_cost: '10', effective_cost: '10' })], 'aws-cost-explorer');
    await insertRequests(w, [
      { id: `${day}-chat`, ts: start + 1_000, feature: 'chat' },
      { id: `${day}-search`, ts: start + 2_000, feature: 'search', gpuMs: 300 },
    ]);
  }
}

const DEMO_LIKE = settings({ featureTeams: { chat: 'conversational-ai', search: 'search-platform' }, pools: { 'gpu-a': { owner: 'ml-platform' } } });

const teamRow = z.object({ team: z.string(), cost: z.string() });
async function teams(): Promise<Record<string, string>> {
  const rows = await w.query('SELECT team, toString(sum(cost)) AS cost FROM cpp_daily GROUP BY team ORDER BY team', {}, teamRow);
  return Object.fromEntries(rows.map((r) => [r.team, r.cost]));
}

/** Attribute the days the way `inferledger attribute` does: the database's settings first, then the window. */
async function attribute(configured: Config['attribution'], options: SettingsOptions = {}): Promise<void> {
  const used = await attributionSettingsFor(w, configured, { by: 'test attribute', ...options });
  await attributeWindow(w, used, FROM, TO);
}

describe('recorded attribution settings', () => {
  it('are recorded on first attribution, and a later process that configures none uses them: teams stay, numbers identical', async () => {
    await traffic();
    expect(await recordedAttributionSettings(w)).toBeUndefined();
    const lines: string[] = [];
    await attribute(DEMO_LIKE, { log: (l) => lines.push(l) });
    const recorded = await recordedAttributionSettings(w);
    expect(recorded).toMatchObject({ settings: DEMO_LIKE, hash: settingsHash(DEMO_LIKE), recordedBy: 'test attribute', reason: 'first attribution' });
    expect(lines).toEqual([expect.stringContaining(`recorded this process's settings for database ${w.database}`)]);
    expect(await teams()).toEqual({ 'conversational-ai': '5', 'search-platform': '15' });
    const before = await snapshot(w);

    const later: string[] = [];
    const used = await attributionSettingsFor(w, settings(), { log: (l) => later.push(l) });
    expect(used).toEqual(DEMO_LIKE);
    expect(later).toHaveLength(1);
    expect(later[0]).toContain(`using those of database ${w.database}, recorded ${recorded?.recordedAt ?? '?'} UTC by test attribute (first attribution)`);
    await attributeWindow(w, used, FROM, TO);
    expect(await snapshot(w)).toEqual(before);
    // Nothing new recorded: defaults are not settings of their own.
    expect(await attributionSettingsHistory(w)).toHaveLength(1);
    // The same log sink hears a recording once.
    await attributionSettingsFor(w, settings(), { log: (l) => later.push(l) });
    expect(later).toHaveLength(2);
    const sink = (l: string): void => { later.push(l); };
    await attributionSettingsFor(w, settings(), { log: sink });
    await attributionSettingsFor(w, settings(), { log: sink });
    expect(later).toHaveLength(3);
  });

  it('a process with other explicit settings is refused with what differs, nothing rewritten; adopting re-attributes and records, the history keeps both', async () => {
    await traffic();
    await attribute(DEMO_LIKE);
    const before = await snapshot(w);
    const runsBefore = await w.query('SELECT count() AS n FROM attribution_settings', {}, z.object({ n: z.coerce.number() }));

    const other = settings({ featureTeams: { chat: 'assistants', search: 'search-platform' }, costBasis: 'billed' });
    const refused = await attribute(other).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(AttributionSettingsConflict);
    const conflict = refused as AttributionSettingsConflict;
    expect(conflict.database).toBe(w.database);
    expect(conflict.differences).toEqual([
      'costBasis: recorded "effective", configured "billed"',
      'featureTeams.chat: recorded "conversational-ai", configured "assistants"',
      'pools.gpu-a.owner: recorded "ml-platform", configured none',
    ]);
    expect(conflict.message).toContain(`database ${w.database} was attributed with other attribution settings`);
    expect(conflict.message).toContain('featureTeams.chat: recorded "conversational-ai", configured "assistants"');
    expect(conflict.message).toContain('--adopt-settings');
    expect(await snapshot(w)).toEqual(before);
    expect(await w.query('SELECT count() AS n FROM attribution_settings', {}, z.object({ n: z.coerce.number() }))).toEqual(runsBefore);

    const lines: string[] = [];
    await attribute(other, { adopt: true, log: (l) => lines.push(l) });
    expect(lines).toEqual([expect.stringMatching(new RegExp(`adopted this process's settings for database ${w.database}, replacing those recorded .* by test attribute \\(first attribution\\); changed: costBasis`))]);
    expect(await teams()).toEqual({ assistants: '5', 'search-platform': '15' });
    expect(await snapshot(w)).not.toEqual(before);

    const history = await attributionSettingsHistory(w);
    expect(history.map((h) => [h.reason, h.settings])).toEqual([['adopted', other], ['first attribution', DEMO_LIKE]]);
    expect(history[0]?.recordedAt.localeCompare(history[1]?.recordedAt ?? '')).toBe(1);
    expect((await recordedAttributionSettings(w))?.settings).toEqual(other);
    // The adopted settings are the database's now: the process that first recorded them is the one refused.
    await expect(attributionSettingsFor(w, DEMO_LIKE)).rejects.toThrow(/featureTeams\.chat: recorded "assistants", configured "conversational-ai"/);
    expect(await attributionSettingsFor(w, settings())).toEqual(other);
  });

  it('reports use the recorded pool owners and never record', async () => {
    await traffic();
    const month = parseMonth('2026-10');
    if (!month) throw new Error('month');
    const defaults = configSchema.parse({});
    // Nothing recorded: a report reads with what it is configured with (here: nothing attributed yet), and writes no settings.
    await expect(runChargebackReport(w, defaults, { month, by: 'team', idle: 'owner', outDir: tempDir() })).rejects.toThrow(ReportError);
    expect(await attributionSettingsHistory(w)).toEqual([]);

    await attribute(DEMO_LIKE);
    const { report, pack } = await runChargebackReport(w, defaults, { month, by: 'team', idle: 'owner', outDir: tempDir() });
    expect(report.idleFallbacks).toEqual([]);
    expect(report.lines.map((l) => l.owner)).toContain('ml-platform');
    expect(readFileSync(join(pack.dir, 'chargeback.csv'), 'utf8')).toContain('ml-platform');
    // Other pool owners configured: refused, the month was attributed with the recorded ones.
    const otherOwner = configSchema.parse({ attribution: { ...DEMO_LIKE, pools: { 'gpu-a': { owner: 'someone-else' } } } });
    await expect(runChargebackReport(w, otherOwner, { month, by: 'team', idle: 'owner', outDir: tempDir() }))
      .rejects.toThrow(/pools\.gpu-a\.owner: recorded "ml-platform", configured "someone-else"/);
    expect(await attributionSettingsHistory(w)).toHaveLength(1);
    await expect(attributionSettingsFor(w, DEMO_LIKE, { readOnly: true, adopt: true })).rejects.toThrow(/cannot be adopted/);
  });

  it('stored settings the schema refuses are named, and replaced only by adopting', async () => {
    await w.insertObjects('attribution_settings', [{
      recorded_at: new Date().toISOString(), settings: JSON.stringify({ costBasis: 'amortised' }), settings_hash: 'x', recorded_by: 'an old version', reason: 'first attribution',
    }]);
    await expect(attributionSettingsFor(w, settings())).rejects.toThrow(RecordedSettingsError);
    await expect(attributionSettingsFor(w, settings())).rejects.toThrow(/costBasis/);
    expect(await attributionSettingsFor(w, settings(), { adopt: true })).toEqual(settings());
    expect((await recordedAttributionSettings(w))?.reason).toBe('adopted');
  });

  it('differences name each setting, in order, with both values', () => {
    expect(settingsDifferences(settings(), settings())).toEqual([]);
    expect(settingsDifferences(settings({ weightBasis: 'tokens', modelTeams: { m1: 'a' } }), settings({ pools: { p: { gpusPerInstance: 4 } }, modelTeams: { m1: 'b', m2: 'c' } }))).toEqual([
      'modelTeams.m1: recorded "a", configured "b"',
      'modelTeams.m2: recorded none, configured "c"',
      'pools.p.gpusPerInstance: recorded none, configured 4',
      'weightBasis: recorded "tokens", configured "gpu_ms"',
    ]);
    expect(settingsDifferences(settings({ pools: { p: {} } }), settings())).toEqual(['pools: recorded {"p":{}}, configured {}']);
  });
});

describe('the service on a database attributed with settings it does not know', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis.dispose();
  });
  const runtimes: JobRuntime[] = [];
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close(5_000)));
  });

  const clock = { now: 0 };
  function runtime(attribution: Partial<Config['attribution']>, log: string[], reportDir = tempDir()): JobRuntime {
    const config = configSchema.parse({
      redis: { url: redis.url },
      attribution,
      jobs: { prefix: uniquePrefix(), billingPull: false, billingStart: DAYS[0], backoffMs: 100, dayLockMs: 3_000 },
      report: { outDir: reportDir, scheduled: [{ by: 'team', idle: 'owner' }] },
    });
    const r = new JobRuntime({ config, jobs: JOB_REGISTRY, log: (line) => { log.push(line); }, clock: () => clock.now });
    r.startWorkers(w);
    runtimes.push(r);
    return r;
  }

  const settled = (r: JobRuntime): Promise<void> => queuesSettled(r, 90_000);

  const runRow = z.object({ day: z.string(), settings_hash: z.string() });
  const runs = (): Promise<z.infer<typeof runRow>[]> =>
    w.query('SELECT toString(day) AS day, settings_hash FROM attribution_runs ORDER BY day, finished_at', {}, runRow);

  it('the attribute job re-attributes with the recorded settings: teams intact, numbers identical, the pack with the recorded pool owner', { timeout: 180_000 }, async () => {
    await traffic();
    // Like the demo: its own mapping, recorded with the database, attributed outside the scheduler.
    await attribute(DEMO_LIKE, { by: 'inferledger demo', reason: 'demo' });
    const before = await snapshot(w);
    expect(await teams()).toEqual({ 'conversational-ai': '5', 'search-platform': '15' });

    // The service with no attribution settings of its own, the day after the month ended.
    const log: string[] = [];
    const reports = tempDir();
    const r = runtime({}, log, reports);
    clock.now = Date.parse('2026-11-01T06:30:00Z');
    await r.tick();
    await settled(r);
    // Every day was owed (never run by the scheduler) and ran with the recorded settings.
    expect(await runs()).toEqual(DAYS.map((day) => ({ day, settings_hash: settingsHash(DEMO_LIKE) })));
    expect(await teams()).toEqual({ 'conversational-ai': '5', 'search-platform': '15' });
    expect(await snapshot(w)).toEqual(before);
    const said = log.filter((l) => l.startsWith('attribution settings:'));
    expect(said).toEqual([`attribution settings: this process configures none; using those of database ${w.database}, recorded ${(await recordedAttributionSettings(w))?.recordedAt ?? '?'} UTC by inferledger demo (demo)`]);
    // The scheduled pack gives the pool's idle to the owner the database recorded.
    const packs = await w.query('SELECT pack_dir FROM report_runs', {}, z.object({ pack_dir: z.string() }));
    expect(packs).toHaveLength(1);
    expect(readFileSync(join(packs[0]?.pack_dir ?? '', 'chargeback.csv'), 'utf8')).toContain('ml-platform');
    expect(await attributionSettingsHistory(w)).toHaveLength(1);

    // The next hour: nothing owed, nothing recomputed.
    clock.now += 3_600_000;
    await r.tick();
    await settled(r);
    expect(await runs()).toHaveLength(DAYS.length);
  });

  it('a service configured with other settings fails its attribute job at once and writes nothing', { timeout: 120_000 }, async () => {
    await traffic();
    await attribute(DEMO_LIKE, { by: 'inferledger demo', reason: 'demo' });
    const before = await snapshot(w);
    const log: string[] = [];
    const r = runtime({ featureTeams: { chat: 'assistants' } }, log);
    clock.now = Date.parse(`${formatDate(TO.getTime())}T12:30:00Z`);
    await r.tick();
    await settled(r);
    const failed = (await r.queue(QUEUES.attribute).getJobs(['failed'])).filter((j) => j.name === 'attribute');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.attemptsMade).toBe(1);
    expect(failed[0]?.failedReason).toMatch(/featureTeams\.chat: recorded "conversational-ai", configured "assistants"/);
    expect(failed[0]?.failedReason).toMatch(/featureTeams\.search: recorded "search-platform", configured none/);
    expect(await runs()).toEqual([]);
    expect(await snapshot(w)).toEqual(before);
    expect(await attributionSettingsHistory(w)).toHaveLength(1);
  });
});
