/**
 * Shared by the ingest benchmarks: child processes (so each measurement's
 * peak RSS is its own) and the warehouse-insert bound, i.e. the engine
 * inserting rows that were serialised beforehand, nothing parsed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/config/config.js';
import { formatDateTime64, REQUEST_COLUMNS, serializeRequestRow, validateRequestEvent } from '../../src/events/request-event.js';
import { openText, readLines } from '../../src/files/line-reader.js';
import { migrate } from '../../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../../src/warehouse/warehouse.js';
import { sqlFile } from '../../src/warehouse/sql-files.js';
import { z } from 'zod';

export interface Measured {
  events: number;
  seconds: number;
  maxRssMb: number;
  accepted: number;
  /** CPU time (user + system, all threads of the process) over the timed part. */
  cpuSeconds?: number;
}

/** CPU seconds (user + system, every thread of this process) since `from`. */
export function cpuSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}

const MAX_LINE_BYTES = configSchema.shape.ingest.parse({}).maxLineBytes;

/** Run `script` with `args` in a child process with a fresh data directory; returns the JSON it prints last. */
export function runChild(script: string, args: string[]): Measured {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-child-'));
  try {
    const out = execFileSync(process.execPath, [...process.execArgv, script, ...args, '--data-dir', dataDir], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as Measured;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function benchWarehouse(dataDir: string): Promise<Warehouse> {
  const warehouse = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir, database: 'bench' }));
  await migrate(warehouse);
  return warehouse;
}

/** Serialise the valid events of `file` into batch files of `batchRows` rows under `dir`. */
export async function serialiseBatches(file: string, dir: string, batchRows: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  let batch: string[] = [];
  let files = 0;
  const now = formatDateTime64(Date.now());
  const flush = (): void => {
    writeFileSync(join(dir, `${String(files++).padStart(5, '0')}.jsonl`), `${batch.join('\n')}\n`);
    batch = [];
  };
  for await (const lines of readLines(await openText(file), MAX_LINE_BYTES)) {
    for (const line of lines) {
      const outcome = line.text === undefined ? undefined : validateRequestEvent(JSON.parse(line.text));
      if (!outcome?.ok) continue;
      batch.push(serializeRequestRow(outcome.event, outcome.attributes, 'file:bench', now));
      if (batch.length === batchRows) flush();
    }
  }
  if (batch.length > 0) flush();
}

/** Child body of the insert bound: insert every batch file in order, timing only the inserts. */
export async function insertBatchFiles(dir: string, dataDir: string): Promise<Measured> {
  const warehouse = await benchWarehouse(dataDir);
  let seconds = 0;
  let cpuSeconds = 0;
  let events = 0;
  for (const name of readdirSync(dir).sort()) {
    const body = readFileSync(join(dir, name));
    events += body.toString('latin1').split('\n').length - 1;
    const started = performance.now();
    // All threads: the engine's parsing, and its background merges while the insert runs (the collector pays for them too).
    const cpuFrom = process.cpuUsage();
    await warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body);
    cpuSeconds += cpuSince(cpuFrom);
    seconds += (performance.now() - started) / 1000;
  }
  await warehouse.close();
  return { events, seconds, cpuSeconds, maxRssMb: process.resourceUsage().maxRSS / 1024, accepted: events };
}

/**
 * Child body of the engine-alone bound: the engine parses `file` itself
 * (bench/sql/engine-alone-insert.sql) into a copy of inference_requests; only
 * the insert is timed (the copy of the file into the engine's sandbox is not).
 * Its peak RSS is the engine's own for the same rows.
 */
export async function insertFileInEngine(file: string, dataDir: string): Promise<Measured> {
  const warehouse = await benchWarehouse(dataDir);
  await warehouse.command('CREATE TABLE engine_alone_requests AS inference_requests');
  const path = join(dataDir, 'sandbox', 'engine-alone.ndjson');
  copyFileSync(file, path);
  const started = performance.now();
  const cpuFrom = process.cpuUsage();
  await warehouse.command(sqlFile('../bench/sql/engine-alone-insert'), { path, ingested_at: formatDateTime64(Date.now()) });
  const cpuSeconds = cpuSince(cpuFrom);
  const seconds = (performance.now() - started) / 1000;
  const [count] = await warehouse.query('SELECT count() AS n FROM engine_alone_requests', {}, z.object({ n: z.coerce.number() }));
  await warehouse.close();
  const events = count?.n ?? 0;
  return { events, seconds, cpuSeconds, maxRssMb: process.resourceUsage().maxRSS / 1024, accepted: events };
}

/** Best of `repeat` runs by rate: the machine is noisy (+-15-30% between runs). */
export async function bestOf<T extends { events: number; seconds: number }>(repeat: number, measure: () => Promise<T> | T): Promise<T> {
  let winner: T | undefined;
  for (let i = 0; i < Math.max(1, repeat); i++) {
    const r = await measure();
    if (!winner || r.events / r.seconds > winner.events / winner.seconds) winner = r;
  }
  return winner as T;
}

export function rate(r: { events: number; seconds: number }): number {
  return r.events / r.seconds;
}
