/**
 * Backup and restore of the embedded warehouse, on the real engine: a
 * warehouse with rows in every table (ingested, attributed, and random rows
 * of every column type where no command writes; views; a Memory scratch
 * table of an attribution run), backed up, restored into an
 * empty data directory elsewhere (another process: the engine binds one data
 * directory per process) and compared; a backup taken while requests are
 * written; a restore refused into a non-empty directory and from a changed
 * backup; the scheduled job keeping the newest N; a backup through a running
 * service that holds the data directory.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { backupJob } from '../jobs/backup.job.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { filesUnder } from '../src/backup/backup-files.js';
import { MANIFEST_FILE, readManifest, type BackupManifest } from '../src/backup/manifest.js';
import { restoreBackup } from '../src/backup/restore-backup.js';
import { takeBackup } from '../src/backup/take-backup.js';
import { tableChecksums } from '../src/backup/table-checksums.js';
import { main, EXIT } from '../src/cli/main.js';
import { configSchema } from '../src/config/config.js';
import type { JobContext } from '../src/scheduler/job.js';
import { ADMIN_TOKEN_HEADER } from '../src/service/admin-route.js';
import { runService } from '../src/service/run-service.js';
import { findRunningService } from '../src/service/service-discovery.js';
import { listMigrations } from '../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { insertRequests } from './helpers/data.js';
import { FIXTURES, event, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { matching } from './helpers/matchers.js';
import { freePort } from './helpers/ports.js';
import { startTestRedis, uniquePrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { TEST_DATA_DIR, discardWarehouse, freshWarehouse, scalar, testWarehouseConfig } from './helpers/warehouse.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const run = promisify(execFile);
const NEWEST_MIGRATION = listMigrations().at(-1)?.version ?? 0;

let w: Warehouse;

/** The CLI in this process, on this file's data directory and the test's database. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: w.database, ...env } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The installed CLI in a process of its own (a data directory other than this process's). */
async function child(args: string[], dataDir: string, database: string): Promise<{ code: number; out: string; err: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, INFERLEDGER_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: database };
  delete env['INFERLEDGER_CONFIG'];
  delete env['CLICKHOUSE_URL'];
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 });
    return { code: 0, out: stdout.trim(), err: stderr.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: (e.stdout ?? '').trim(), err: (e.stderr ?? '').trim() };
  }
}

/** Content compared between the source and a restored copy: `sql --format json` output of each query. */
const SAMPLES = [
  'SELECT request_id, ts, model_id, toString(gpu_ms) AS gpu_ms, latency_ms, status, attributes FROM inference_requests FINAL ORDER BY request_id LIMIT 5',
  'SELECT count() AS n, toString(sum(gpu_ms)) AS gpu_ms FROM inference_requests_dedup',
  'SELECT period_start, pool_id, model_id, feature_id, tenant_id, toString(cost) AS cost FROM cost_allocation ORDER BY period_start, pool_id, model_id, feature_id, tenant_id, cost LIMIT 5',
  'SELECT toString(sum(effective_cost)) AS billed, count() AS lines FROM billing_current',
  'SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version',
];

async function samplesOf(query: (sql: string) => Promise<{ code: number; out: string; err: string }>): Promise<string[]> {
  const out: string[] = [];
  for (const sql of SAMPLES) {
    const result = await query(sql);
    expect(result.code, result.err).toBe(EXIT.ok);
    out.push(result.out);
  }
  return out;
}

const tableRow = z.object({ name: z.string(), engine: z.string() });
const structureRow = z.object({ structure: z.string() });

/**
 * Rows in every table: requests, rejects, billing and attribution through
 * the commands that write them, copies of some requests a merge has not
 * collapsed yet, and seeded random rows (every column type, NULLs included)
 * in each table no command here writes; twice in merging tables, so they
 * hold rows FINAL collapses.
 */
async function fillEveryTable(): Promise<void> {
  const dir = tempDir();
  const withBadLine = writeTemp(dir, 'more.ndjson', ndjson([event({ request_id: 'extra-1' }), event({ request_id: 'extra-2', gpu_ms: -1 })]));
  expect((await cli(['ingest', 'requests', join(FIXTURES, 'requests.ndjson'), withBadLine])).code).toBe(EXIT.ok);
  expect((await cli(['ingest', 'billing', join(FIXTURES, 'billing-focus.csv'), '--format', 'focus'])).code).toBe(EXIT.ok);
  expect((await cli(['attribute', '--from', '2026-10-01', '--to', '2026-10-02'])).code).toBe(EXIT.ok);
  await w.command('INSERT INTO inference_requests SELECT * FROM inference_requests ORDER BY request_id LIMIT 7');
  // A scratch table of an attribution run in progress (Memory): copied and checked like the rest.
  await w.command('CREATE TABLE attribution_stage_0123456789ab_pools ENGINE = Memory AS SELECT * FROM pool_cost ORDER BY ALL LIMIT 9');
  const tables = await w.query("SELECT name, engine FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name", { db: w.database }, tableRow);
  for (const { name, engine } of tables) {
    if (await scalar(w, 'SELECT count() AS n FROM {t:Identifier}', { t: name }) > 0) continue;
    const [row] = await w.query(
      "SELECT arrayStringConcat(groupArray(concat('`', name, '` ', type)), ', ') AS structure FROM (SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position)",
      { db: w.database, t: name }, structureRow,
    );
    const insert = 'INSERT INTO {t:Identifier} SELECT * FROM generateRandom({structure:String}, 11, 12, 3) LIMIT 20';
    await w.command(insert, { t: name, structure: row?.structure ?? '' });
    if (engine !== 'MergeTree') await w.command(insert, { t: name, structure: row?.structure ?? '' });
  }
}

beforeAll(async () => {
  w = await freshWarehouse();
  await fillEveryTable();
});

afterAll(async () => {
  await discardWarehouse(w);
});

describe('backup and restore', () => {
  let backup: string;
  let manifest: BackupManifest;

  it('backs up every table, and a restore elsewhere equals the source: rows, checksums and content', async () => {
    const tables = await w.query('SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name', { db: w.database }, tableRow);
    const empty: string[] = [];
    for (const t of tables) if (t.engine !== 'View' && await scalar(w, 'SELECT count() AS n FROM {t:Identifier}', { t: t.name }) === 0) empty.push(t.name);
    expect(empty).toEqual([]);

    backup = join(tempDir(), 'backup');
    const result = await cli(['backup', backup]);
    expect(result, result.err).toMatchObject({ code: EXIT.ok, err: '' });
    expect(result.out).toMatch(new RegExp(`^backup of database ${w.database} \\(schema version ${NEWEST_MIGRATION}, \\d{4}_\\w+\\.sql\\) written to ${backup}\n`));
    manifest = readManifest(backup);
    expect(manifest).toMatchObject({ format: 'inferledger-backup/1', database: w.database, schema_version: NEWEST_MIGRATION, inferledger_version: '0.1.0' });
    // Every table and view of the database, schema_migrations included, each as the source has it now.
    expect(manifest.tables.map((t) => [t.name, t.engine])).toEqual(tables.map((t) => [t.name, t.engine]));
    expect(manifest.tables).toEqual(await tableChecksums(w, w.database));
    const requests = manifest.tables.find((t) => t.name === 'inference_requests');
    expect(requests).toMatchObject({ engine: 'ReplacingMergeTree', checksum_of: 'final-rows', rows: 2001 });
    expect(requests?.stored_rows).toBeGreaterThan(2001);
    expect(manifest.tables.find((t) => t.name === 'billing_current')).toMatchObject({ engine: 'View', rows: null, checksum: null });
    expect(manifest.tables.find((t) => t.name === 'attribution_stage_0123456789ab_pools')).toMatchObject({ engine: 'Memory', rows: 9, checksum_of: 'stored-rows' });
    expect(manifest.files.map((f) => f.path)).toEqual(filesUnder(backup, 'data'));
    expect(readdirSync(backup).sort()).toEqual(['data', MANIFEST_FILE]);

    // Restored under another database name: views are renamed with it.
    const restored = join(tempDir(), 'restored');
    const restore = await child(['restore', backup], restored, 'restored_db');
    expect(restore, restore.err).toMatchObject({ code: 0 });
    expect(restore.out).toContain(`restored database ${w.database} of ${manifest.created_at} into database restored_db of ${restored}`);
    expect(restore.out).toContain('every row count and checksum as the manifest says');
    expect(restore.out).toContain(`schema version ${NEWEST_MIGRATION}`);
    const source = await samplesOf((sql) => cli(['sql', sql, '--format', 'json']));
    const copy = await samplesOf((sql) => child(['sql', sql, '--format', 'json'], restored, 'restored_db'));
    expect(copy).toEqual(source);
    expect(source[0]?.split('\n')).toHaveLength(5);
  });

  it('a backup taken while requests are being written matches its manifest: each insert whole or not at all', async () => {
    const writer = await openWarehouse(testWarehouseConfig(w.database));
    const batch = 150;
    const base = await scalar(w, 'SELECT count() AS n FROM inference_requests FINAL');
    let batches = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        const hour = Date.UTC(2026, 9, 2, batches % 24);
        await insertRequests(writer, Array.from({ length: batch }, (_, i) => ({ id: `live-${batches}-${i}`, ts: hour + i * 1000, gpuMs: 10 + i })));
        batches += 1;
      }
    })();
    try {
      await waitFor(() => batches >= 2, { what: 'the writer to be writing' });
      const dir = join(tempDir(), 'live');
      const taken = await takeBackup(w, dir);
      const during = batches;
      await waitFor(() => batches >= during + 2, { what: 'writes after the backup' });
      stop = true;
      await writing;
      const rows = taken.tables.find((t) => t.name === 'inference_requests')?.rows ?? -1;
      expect((rows - base) % batch).toBe(0);
      expect(rows).toBeGreaterThan(base);
      expect(rows).toBeLessThan(await scalar(w, 'SELECT count() AS n FROM inference_requests FINAL'));
      const restore = await child(['restore', dir], join(tempDir(), 'restored'), w.database);
      expect(restore, restore.err).toMatchObject({ code: 0 });
      expect(restore.out).toContain('every row count and checksum as the manifest says');
    } finally {
      stop = true;
      await writing;
      await writer.close();
    }
  });

  it('refuses a backup into a directory that is not empty, or inside the data directory', async () => {
    const dir = tempDir();
    writeTemp(dir, 'notes.txt', 'mine');
    expect(await cli(['backup', dir])).toEqual({ code: EXIT.failed, out: '', err: `inferledger: ${dir} is not empty (it holds notes.txt): a backup needs an empty or new directory` });
    const inside = await cli(['backup', join(TEST_DATA_DIR, 'backups')]);
    expect(inside.err).toMatch(/is inside the data directory .*: a backup there would be lost with it/);
    expect(existsSync(join(TEST_DATA_DIR, 'backups'))).toBe(false);
  });

  it('refuses to restore into a data directory that is not empty, naming what is there', async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, 'store'));
    writeTemp(dataDir, 'keep.txt', 'x');
    const config = configSchema.parse({ warehouse: { dataDir, database: 'restored' } });
    await expect(restoreBackup(config, backup)).rejects.toThrow(`the data directory ${dataDir} is not empty (it holds keep.txt, store): restore loads a backup only into an empty or new directory`);
    const result = await cli(['restore', backup]);
    expect(result.code).toBe(EXIT.failed);
    expect(result.err).toMatch(new RegExp(`^inferledger: the data directory ${TEST_DATA_DIR} is not empty \\(it holds `));
  });

  it('refuses a changed backup: files before anything is loaded, checksums after, leaving the directory empty', async () => {
    const copy = (): string => {
      const dir = join(tempDir(), 'copy');
      cpSync(backup, dir, { recursive: true });
      return dir;
    };
    const dataDir = join(tempDir(), 'restored');
    const config = configSchema.parse({ warehouse: { dataDir, database: 'restored' } });

    const flipped = copy();
    const part = manifest.files.find((f) => f.path.endsWith('/data.bin') && f.path.includes('/cost_allocation/'));
    const target = join(flipped, ...(part?.path ?? '').split('/'));
    const bytes = readFileSync(target);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(target, bytes);
    writeTemp(join(flipped, 'data'), 'extra.bin', 'x');
    await expect(restoreBackup(config, flipped)).rejects.toThrow(`the backup ${flipped} is damaged or was changed, nothing was loaded: data/extra.bin is not in the manifest; ${part?.path ?? ''} differs from the manifest (SHA-256)`);
    expect(existsSync(dataDir)).toBe(false);

    const edited = copy();
    const text = JSON.parse(readFileSync(join(edited, MANIFEST_FILE), 'utf8')) as BackupManifest;
    const entry = text.tables.find((t) => t.name === 'pool_cost');
    if (entry) entry.checksum = '12345';
    writeFileSync(join(edited, MANIFEST_FILE), JSON.stringify(text));
    const restore = await child(['restore', edited], dataDir, 'restored');
    expect(restore.code).toBe(EXIT.failed);
    expect(restore.err).toContain(`inferledger: the restored tables do not match the manifest of ${edited}: pool_cost has checksum`);
    expect(restore.err).toContain(`the manifest says 12345 (the data directory ${dataDir} was emptied again)`);
    expect(existsSync(dataDir)).toBe(false);

    const unfinished = copy();
    writeFileSync(join(unfinished, MANIFEST_FILE), '{"format": "inferledger-backup/1"}');
    await expect(restoreBackup(config, unfinished)).rejects.toThrow(/manifest.json is not an inferledger backup manifest: inferledger_version: /);
  });

  it('prints the server route instead of copying anything when the warehouse is a ClickHouse server', async () => {
    const result = await cli(['backup', join(tempDir(), 'x')], { CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(result.code).toBe(EXIT.usage);
    expect(result.out).toContain(`BACKUP DATABASE ${w.database} TO S3('https://<bucket>.s3.<region>.amazonaws.com/inferledger/${w.database}/<YYYY-MM-DD>/', '<access key id>', '<secret access key>')`);
    const restore = await cli(['restore', backup], { CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(restore.code).toBe(EXIT.usage);
    expect(restore.out).toContain(`RESTORE DATABASE ${w.database} FROM S3(`);
  });
});

describe('scheduled backups', () => {
  it('takes one when the schedule has come round since the newest, and keeps the newest N', async () => {
    const dir = join(tempDir(), 'scheduled');
    const log: string[] = [];
    const at = (iso: string) => async (config: ReturnType<typeof configSchema.parse>) => {
      const ctx = { warehouse: w, config, log: (l: string) => { log.push(l); }, clock: () => Date.parse(iso) } as unknown as JobContext;
      return backupJob.handler(ctx, { now: iso }, undefined as unknown as Job);
    };
    const config = configSchema.parse({ warehouse: { dataDir: TEST_DATA_DIR, database: w.database }, backup: { dir, keep: 2, schedule: '0 * * * *' } });
    expect(await at('2026-12-01T10:05:00Z')(configSchema.parse({}))).toMatchObject({ windows: [], note: 'backup.dir is not set: no scheduled backups' });

    expect(await at('2026-12-01T10:05:00Z')(config)).toMatchObject({ windows: ['2026-12-01T100500Z'] });
    expect(await at('2026-12-01T10:50:00Z')(config)).toMatchObject({ windows: [], note: 'not due: the newest backup is 2026-12-01T100500Z (schedule 0 * * * * UTC)' });
    // A backup killed half-way: no manifest.
    mkdirSync(join(dir, '2026-12-01T103000Z', 'data'), { recursive: true });
    expect(await at('2026-12-01T11:00:00Z')(config)).toMatchObject({ windows: ['2026-12-01T110000Z'] });
    expect(readdirSync(dir).sort()).toEqual(['2026-12-01T100500Z', '2026-12-01T110000Z']);
    // Down at 12:00 and 13:00: one backup when it comes back, and the oldest goes.
    const late = await at('2026-12-01T13:20:00Z')(config);
    expect(late).toMatchObject({ windows: ['2026-12-01T132000Z'], note: matching(/; deleted 2026-12-01T100500Z$/) });
    expect(readdirSync(dir).sort()).toEqual(['2026-12-01T110000Z', '2026-12-01T132000Z']);
    expect(readManifest(join(dir, '2026-12-01T132000Z')).database).toBe(w.database);
    expect(log).toContain(`backup: deleted 1 older backup(s) of ${dir}, keeping 2: 2026-12-01T100500Z`);
  });
});

describe('a backup while the service holds the data directory', () => {
  it('is taken by the service, asked over its admin route with its token', async () => {
    const redis = await startTestRedis();
    const queryPort = await freePort();
    const config = configSchema.parse({
      warehouse: { dataDir: TEST_DATA_DIR, database: w.database },
      redis: { url: redis.url },
      jobs: { prefix: uniquePrefix(), billingPull: false, shutdownGraceMs: 5_000 },
      service: { queryPort },
    });
    let stop: (reason: string) => void = () => undefined;
    const lines: string[] = [];
    const service = runService({ jobs: JOB_REGISTRY, role: 'all', config, warehouse: w, log: (l) => { lines.push(l); }, stop: new Promise((resolve) => { stop = resolve; }) });
    try {
      await waitFor(() => findRunningService(TEST_DATA_DIR)?.port === queryPort, { what: 'the discovery file' });
      const dir = join(tempDir(), 'through-service');
      const result = await cli(['backup', dir]);
      expect(result, result.err).toMatchObject({ code: EXIT.ok, err: `the data directory is held by the running service (pid ${process.pid}): it takes the backup` });
      expect(result.out.split('\n')[0]).toBe(`backup of database ${w.database} (schema version ${NEWEST_MIGRATION}, ${listMigrations().at(-1)?.name ?? ''}) written to ${dir} by the running service (pid ${process.pid})`);
      // The service's jobs may write meanwhile: the requests, which nothing writes now, are as the source has them.
      const requests = (tables: BackupManifest['tables']) => tables.find((t) => t.name === 'inference_requests');
      expect(requests(readManifest(dir).tables)).toEqual(requests(await tableChecksums(w, w.database)));
      expect(lines).toContain(`admin: backup into ${dir} asked for by the CLI`);

      // Without the token, or with another, nothing is done.
      const url = `http://127.0.0.1:${queryPort}/admin/backup`;
      const body = JSON.stringify({ dir: join(tempDir(), 'not-taken') });
      const tokens: Record<string, string>[] = [{}, { [ADMIN_TOKEN_HEADER]: 'f'.repeat(64) }];
      for (const headers of tokens) {
        const res = await fetch(url, { method: 'POST', body, headers });
        expect(res.status).toBe(403);
      }
      // A web page may not ask, whatever it knows.
      const page = await fetch(url, { method: 'POST', body, headers: { Origin: 'https://evil.example' } });
      expect(page.status).toBe(403);
    } finally {
      stop('test over');
      await service;
      await redis.dispose();
    }
    expect(readdirSync(TEST_DATA_DIR).filter((f) => f.startsWith('inferledger-service'))).toEqual([]);
  });
});
