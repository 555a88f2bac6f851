/**
 * bench/ingest-engine-parts: what request ingestion would cost if the engine
 * parsed the events with a typed schema instead of JavaScript, part by part,
 * on the same events as bench/ingest-file (embedded engine, one process):
 *   1. the engine alone: typed JSONEachRow straight into a copy of inference_requests (ingest-file's bound);
 *   2. typed parse + the checks the types leave, into a Memory stage (bench/sql/typed-stage-insert.sql);
 *   3. the valid lines' numbers, ids and hours back to JavaScript (RowBinary) and read there;
 *   4. the stage's rows into inference_requests, engine to engine.
 * Prints wall time and CPU per event (all threads) of each, and what 2 + 3 + 4
 * on this machine's cores would allow; writes bench/results/ingest-engine-parts.json.
 *
 *   npx tsx bench/ingest-engine-parts.ts [--events 1000000] [--repeat 2]
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatDateTime64 } from '../src/events/request-event.js';
import { RowBinaryReader } from '../src/warehouse/row-binary.js';
import { sqlFile } from '../src/warehouse/sql-files.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { benchWarehouse, cpuSince } from './lib/insert-bound.js';
import { writeSyntheticRequests } from './lib/synthetic-requests.js';
import { writeResult } from './lib/results.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '2' },
  },
});

interface Part {
  seconds: number;
  cpuSeconds: number;
}

async function timed(run: () => Promise<unknown>): Promise<Part> {
  const started = performance.now();
  const cpuFrom = process.cpuUsage();
  await run();
  return { cpuSeconds: cpuSince(cpuFrom), seconds: (performance.now() - started) / 1000 };
}

/** Read a RowBinary answer of (UInt32, String, Int32) rows as the request writer does: every id a string. */
function readIds(answer: Buffer): number {
  const reader = new RowBinaryReader(answer);
  let rows = 0;
  while (!reader.done) {
    reader.uint32();
    if (reader.string().length === 0) throw new Error('an empty id');
    reader.int32();
    rows++;
  }
  return rows;
}

async function streamBytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function runOnce(file: string, events: number): Promise<Record<string, Part>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-engine-parts-'));
  let warehouse: Warehouse | undefined;
  try {
    warehouse = await benchWarehouse(dataDir);
    const w = warehouse;
    const path = join(dataDir, 'sandbox', 'requests.ndjson');
    copyFileSync(file, path);
    await w.command('CREATE TABLE engine_alone_requests AS inference_requests');
    await w.command(sqlFile('../bench/sql/typed-stage-create'));
    const parts: Record<string, Part> = {};
    parts['engineAlone'] = await timed(() => w.command(sqlFile('../bench/sql/engine-alone-insert'), { path, ingested_at: formatDateTime64(Date.now()) }));
    parts['typedStage'] = await timed(() => w.command(sqlFile('../bench/sql/typed-stage-insert'), { path }));
    let rows = 0;
    parts['idsToJs'] = await timed(async () => { rows = readIds(await streamBytes(await w.queryText(sqlFile('../bench/sql/typed-stage-ids'), {}, 'RowBinary', true))); });
    if (rows !== events) throw new Error(`the stage holds ${rows} valid rows, not ${events}`);
    parts['stageToRequests'] = await timed(() => w.command(sqlFile('../bench/sql/typed-stage-to-requests')));
    return parts;
  } finally {
    await warehouse?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function benchmark(): Promise<void> {
  const events = Number(args.events);
  const work = mkdtempSync(join(tmpdir(), 'bench-engine-parts-'));
  try {
    const file = join(work, 'requests.ndjson');
    await writeSyntheticRequests(file, events);
    const runs: Record<string, Part>[] = [];
    for (let i = 0; i < Math.max(1, Number(args.repeat)); i++) runs.push(await runOnce(file, events));
    // Best of the runs, part by part (the machine is noisy).
    const best = (name: string): Part => runs.map((r) => r[name] as Part).reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const names = ['engineAlone', 'typedStage', 'idsToJs', 'stageToRequests'] as const;
    const perEvent = (p: Part): number => (p.cpuSeconds * 1e6) / events;
    const cores = availableParallelism();
    const pathCpu = perEvent(best('typedStage')) + perEvent(best('idsToJs')) + perEvent(best('stageToRequests'));
    const pathWall = best('typedStage').seconds + best('idsToJs').seconds + best('stageToRequests').seconds;
    const result = {
      benchmark: 'ingest-engine-parts',
      date: new Date().toISOString(),
      node: process.version,
      events,
      cores,
      parts: Object.fromEntries(names.map((n) => [n, { seconds: best(n).seconds, eventsPerSec: events / best(n).seconds, cpuMicrosPerEvent: perEvent(best(n)) }])),
      typedPath: { cpuMicrosPerEvent: pathCpu, sequentialEventsPerSec: events / pathWall, cpuCeilingEventsPerSec: (cores * 1e6) / pathCpu },
    };
    const label: Record<(typeof names)[number], string> = {
      engineAlone: 'engine alone: typed file -> table',
      typedStage: 'typed parse + checks -> Memory stage',
      idsToJs: 'ids + hours -> JavaScript (RowBinary)',
      stageToRequests: 'stage -> inference_requests',
    };
    for (const n of names) {
      const p = best(n);
      console.log(`${label[n].padEnd(40)} ${p.seconds.toFixed(2).padStart(6)} s  ${Math.round(events / p.seconds).toLocaleString('en-US').padStart(10)} events/s  ${perEvent(p).toFixed(2).padStart(5)} µs CPU/event`);
    }
    console.log(`typed path (parts 2-4): ${pathCpu.toFixed(2)} µs CPU/event; one after another ${Math.round(events / pathWall).toLocaleString('en-US')} events/s; ceiling on ${cores} cores ${Math.round(result.typedPath.cpuCeilingEventsPerSec).toLocaleString('en-US')} events/s`);
    writeResult('ingest-engine-parts', result);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await benchmark();
