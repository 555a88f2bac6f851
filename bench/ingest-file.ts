/**
 * bench/ingest-file: NDJSON request events into the embedded warehouse.
 *
 * Measures, on the same events:
 *   1. end to end: `ingestRequestFiles` (read, parse, validate, dedupe lookup, insert), in a child process so its peak RSS is its own,
 *      twice: as configured (the engine parses units itself) and with the parser threads parsing everything (the path
 *      before engine units, and the one a ClickHouse server takes);
 *   2. the engine alone: chDB parsing the same file itself (typed JSONEachRow, no validation) into a table shaped like
 *      inference_requests (bench/sql/engine-alone-insert.sql), in a child process: its rate and its peak RSS;
 *   3. bound "parse": reading the lines + JSON.parse + schema validation, nothing written;
 *   4. bound "insert": the warehouse inserting the same rows already serialised (JSONCompactEachRow), nothing parsed,
 *      in batches of ingest.batchRows rows and in batches of a unit's rows: the engine's own peak RSS for the same
 *      inserts as the parser threads' path and the engine path make.
 * The engine alone and both end-to-end paths run alternately, --repeat times each, best of each kept.
 * Prints events/s for all of them, end to end as a share of the engine alone (target >= 65%) and of the slower
 * bound, CPU per event, and peak RSS over the engine's own; writes bench/results/ingest-file.json.
 *
 *   npx tsx bench/ingest-file.ts [--events 1000000] [--rss-events 4000000] [--repeat 2] [--parser-threads N] [--batch-rows N]
 *                                [--engine-unit-bytes N]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateRequestEvent } from '../src/events/request-event.js';
import { ingestRequestFiles } from '../src/files/requests-file.ingest.js';
import { openText, readLines } from '../src/files/line-reader.js';
import { configSchema } from '../src/config/config.js';
import { benchWarehouse, cpuSince, bestOf, insertBatchFiles, insertFileInEngine, rate, runChild, serialiseBatches, type Measured } from './lib/insert-bound.js';
import { writeSyntheticRequests } from './lib/synthetic-requests.js';
import { writeResult } from './lib/results.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '2' },
    'rss-events': { type: 'string', default: '4000000' },
    child: { type: 'string' },
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    /** Parser threads of the end-to-end run; the product's default (cores - 1) when unset. */
    'parser-threads': { type: 'string' },
    /** Rows per insert (all three measurements); the product's default when unset. */
    'batch-rows': { type: 'string' },
    /** Bytes of a unit the engine parses in the end-to-end run; the product's default when unset, 0: parser threads only. */
    'engine-unit-bytes': { type: 'string' },
  },
});
const ingestDefaults = configSchema.shape.ingest.parse({ parserThreads: args['parser-threads'], batchRows: args['batch-rows'], engineUnitBytes: args['engine-unit-bytes'] });
/** The options above, passed on to child processes. */
const tuning = Object.entries({ 'parser-threads': args['parser-threads'], 'batch-rows': args['batch-rows'] }).flatMap(([k, v]) => (v ? [`--${k}`, v] : []));

type EndToEnd = Measured;

/** Child mode: ingest one file into a fresh warehouse and report time and peak RSS. */
async function child(file: string, dataDir: string): Promise<void> {
  const warehouse = await benchWarehouse(dataDir);
  const started = performance.now();
  const cpuFrom = process.cpuUsage();
  const summary = await ingestRequestFiles(warehouse, [file], ingestDefaults);
  const cpuSeconds = cpuSince(cpuFrom);
  const seconds = (performance.now() - started) / 1000;
  await warehouse.close();
  const result: EndToEnd = { events: summary.accepted + summary.rejected + summary.duplicates, seconds, cpuSeconds, maxRssMb: process.resourceUsage().maxRSS / 1024, accepted: summary.accepted };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const SCRIPT = fileURLToPath(import.meta.url);

/** End to end in a child process; `threadsOnly`: with the parser threads parsing everything. */
function endToEnd(file: string, threadsOnly = false): EndToEnd {
  return runChild(SCRIPT, ['--child', 'ingest', '--file', file, ...tuning, ...(threadsOnly ? ['--engine-unit-bytes', '0'] : [])]);
}

/** Bound 1: read + JSON.parse + validate, and nothing else. */
async function parseBound(file: string): Promise<{ events: number; seconds: number }> {
  // Read the file once first, so every measurement reads it from the page cache.
  let warm = 0;
  for await (const chunk of await openText(file)) warm += (chunk as Buffer).length;
  if (warm === 0) throw new Error(`${file} is empty`);
  const started = performance.now();
  let events = 0;
  for await (const lines of readLines(await openText(file), ingestDefaults.maxLineBytes)) {
    for (const line of lines) {
      if (line.text !== undefined && validateRequestEvent(JSON.parse(line.text)).ok) events++;
    }
  }
  return { events, seconds: (performance.now() - started) / 1000 };
}

/**
 * Bound 2: the warehouse inserting the same rows, serialised beforehand into
 * batch files of the same size, inserted by a child process (only the
 * inserts are timed), so its peak RSS is the engine's own for this work.
 */
async function insertBound(file: string, work: string, batchRows: number): Promise<EndToEnd> {
  const dir = join(work, 'batches');
  await serialiseBatches(file, dir, batchRows);
  const result = runChild(SCRIPT, ['--child', 'insert', '--file', dir]);
  rmSync(dir, { recursive: true, force: true });
  return result;
}

async function benchmark(): Promise<void> {
  const events = Number(args.events);
  const rssEvents = Number(args['rss-events']);
  const work = mkdtempSync(join(tmpdir(), 'bench-ingest-file-'));
  try {
    const file = join(work, 'requests.ndjson');
    process.stdout.write(`generating ${events} events... `);
    const bytes = await writeSyntheticRequests(file, events);
    process.stdout.write(`${(bytes / 1e6).toFixed(0)} MB\n`);

    // The machine is noisy (+-15-30% between runs): each figure is the best of --repeat runs.
    const repeat = Math.max(1, Number(args.repeat));
    const parse = await bestOf(repeat, () => parseBound(file));
    const insert = await bestOf(repeat, () => insertBound(file, work, ingestDefaults.batchRows));
    // The engine path inserts a unit at a time: its memory is compared with the engine inserting batches of as many rows.
    const unitRows = Math.round(ingestDefaults.engineUnitBytes / (bytes / events));
    const unitInsert = ingestDefaults.engineUnitBytes > 0 ? await bestOf(repeat, () => insertBound(file, work, unitRows)) : insert;
    // Alternating, so a slow spell of the machine does not favour either.
    const e2eRuns: EndToEnd[] = [];
    const threadRuns: EndToEnd[] = [];
    const engineRuns: EndToEnd[] = [];
    for (let i = 0; i < repeat; i++) {
      engineRuns.push(runChild(SCRIPT, ['--child', 'engine-alone', '--file', file]));
      e2eRuns.push(endToEnd(file));
      threadRuns.push(endToEnd(file, true));
    }
    const fastest = (runs: EndToEnd[]): EndToEnd => runs.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    const e2e = fastest(e2eRuns);
    const threads = fastest(threadRuns);
    const engine = fastest(engineRuns);

    let big: EndToEnd | undefined;
    if (rssEvents > 0) {
      const bigFile = join(work, 'big.ndjson');
      await writeSyntheticRequests(bigFile, rssEvents);
      big = endToEnd(bigFile);
      rmSync(bigFile);
    }

    const slower = Math.min(rate(parse), rate(insert));
    const result = {
      benchmark: 'ingest-file',
      date: new Date().toISOString(),
      node: process.version,
      events,
      fileMB: statSync(file).size / 1e6,
      batchRows: ingestDefaults.batchRows,
      repeat,
      endToEnd: {
        eventsPerSec: rate(e2e), mbPerSec: statSync(file).size / 1e6 / e2e.seconds, seconds: e2e.seconds, peakRssMB: e2e.maxRssMb, accepted: e2e.accepted,
        cpuMicrosPerEvent: ((e2e.cpuSeconds ?? 0) * 1e6) / e2e.events, runs: e2eRuns.map(rate),
      },
      parserThreadsOnly: {
        eventsPerSec: rate(threads), seconds: threads.seconds, peakRssMB: threads.maxRssMb, cpuMicrosPerEvent: ((threads.cpuSeconds ?? 0) * 1e6) / threads.events,
        runs: threadRuns.map(rate), ratioToEngineAlone: rate(threads) / rate(engine),
      },
      engineAlone: {
        eventsPerSec: rate(engine), seconds: engine.seconds, peakRssMB: engine.maxRssMb, cpuMicrosPerEvent: ((engine.cpuSeconds ?? 0) * 1e6) / engine.events, runs: engineRuns.map(rate),
      },
      ratioToEngineAlone: rate(e2e) / rate(engine),
      /** Peak RSS over the engine's own for the same rows in the same batches (the insert bound's child); the engine-alone child parses the whole file at once and peaks higher. */
      rssOverEngineMB: e2e.maxRssMb - unitInsert.maxRssMb,
      /** The engine inserting batches of a unit's rows (~engineUnitBytes of lines), the end-to-end run's inserts. */
      boundUnitInsert: { rows: unitRows, eventsPerSec: rate(unitInsert), peakRssMB: unitInsert.maxRssMb },
      parserThreadsRssOverEngineMB: threads.maxRssMb - insert.maxRssMb,
      boundParseValidate: { eventsPerSec: rate(parse), seconds: parse.seconds },
      boundWarehouseInsert: { eventsPerSec: rate(insert), seconds: insert.seconds, peakRssMB: insert.maxRssMb },
      ratioToSlowerBound: rate(e2e) / slower,
      largeFile: big ? { events: rssEvents, eventsPerSec: rate(big), peakRssMB: big.maxRssMb } : null,
    };
    const line = (name: string, r: number, extra = ''): string => `${name.padEnd(34)} ${Math.round(r).toLocaleString('en-US').padStart(10)} events/s${extra}`;
    console.log(line('end to end (ingest requests)', rate(e2e), `   ${result.endToEnd.mbPerSec.toFixed(1)} MB/s, ${result.endToEnd.cpuMicrosPerEvent.toFixed(1)} µs CPU/event, peak RSS ${e2e.maxRssMb.toFixed(0)} MB`));
    console.log(line('end to end, parser threads only', rate(threads), `   ${result.parserThreadsOnly.cpuMicrosPerEvent.toFixed(1)} µs CPU/event, peak RSS ${threads.maxRssMb.toFixed(0)} MB, ${(result.parserThreadsOnly.ratioToEngineAlone * 100).toFixed(0)}% of the engine alone`));
    console.log(line('engine alone (typed JSONEachRow)', rate(engine), `   ${result.engineAlone.cpuMicrosPerEvent.toFixed(1)} µs CPU/event, peak RSS ${engine.maxRssMb.toFixed(0)} MB`));
    console.log(`end to end / engine alone           ${(result.ratioToEngineAlone * 100).toFixed(0)}%   (target >= 65%)`);
    console.log(`peak RSS over the engine's own       ${result.rssOverEngineMB.toFixed(0)} MB   (the engine inserting batches of a unit's ${unitRows.toLocaleString('en-US')} rows peaks at ${unitInsert.maxRssMb.toFixed(0)} MB; target <= 200 MB)`);
    console.log(`  parser threads only                ${result.parserThreadsRssOverEngineMB.toFixed(0)} MB   (over the engine inserting batches of ${ingestDefaults.batchRows.toLocaleString('en-US')} rows)`);
    console.log(line('bound: read + JSON.parse + zod', rate(parse)));
    console.log(line('bound: warehouse insert (serialised)', rate(insert), `   peak RSS ${insert.maxRssMb.toFixed(0)} MB (the engine alone)`));
    console.log(`end to end / slower bound           ${(result.ratioToSlowerBound * 100).toFixed(0)}%   (target >= 70%)`);
    if (big) console.log(line(`end to end at ${rssEvents.toLocaleString('en-US')} events`, rate(big), `   peak RSS ${big.maxRssMb.toFixed(0)} MB (target < 500 MB, flat)`));
    writeResult('ingest-file', result);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (args.child === 'ingest') await child(args.file ?? '', args['data-dir'] ?? '');
else if (args.child === 'engine-alone') process.stdout.write(`${JSON.stringify(await insertFileInEngine(args.file ?? '', args['data-dir'] ?? ''))}\n`);
else if (args.child === 'insert') process.stdout.write(`${JSON.stringify(await insertBatchFiles(args.file ?? '', args['data-dir'] ?? ''))}\n`);
else await benchmark();
