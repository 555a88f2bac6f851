/**
 * The collector as users run it (`inferledger collect requests`, a process
 * of its own) killed with SIGKILL at random points while it consumes, three
 * times, then stopped with SIGTERM and finished with --once. At the end every
 * valid event is counted once in what analysts query and in attribution,
 * which must equal attribution of the same events ingested from the file.
 */
import { spawn, execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { seededRandom } from '../src/util/random.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { FIXTURES, event, tempDir } from './helpers/files.js';
import { brokers, freshTopic, readTopic, uniqueGroup, until, withAdmin } from './helpers/kafka.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const execFileAsync = promisify(execFile);

const VALID = 60_000;
const INVALID = 300;

it('counts every event once after three SIGKILLs, a SIGTERM and a restart, in raw tables and in attribution', async () => {
  const dir = tempDir();
  const topic = await freshTopic(6);
  const group = uniqueGroup();
  const lines = sampleRequestLines(VALID, 21, 'crash-');
  const file: string[] = [];
  lines.forEach((line, i) => {
    file.push(line);
    if (i % 200 === 0) file.push(JSON.stringify(event({ request_id: `bad-${i}`, gpu_ms: -1 })));
  });
  expect(file).toHaveLength(VALID + INVALID);
  const input = join(dir, 'requests.ndjson');
  writeFileSync(input, `${file.join('\n')}\n`);
  // Small batches: many commits, so the kills land between inserts and commits as well as inside them.
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ kafka: { batchRows: 300, batchAgeMs: 100, sessionTimeoutMs: 6000 } }));
  const env = { ...process.env, KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group, INFERLEDGER_CONFIG: configFile, INFERLEDGER_DATA_DIR: join(dir, 'warehouse') };
  const cli = async (...args: string[]): Promise<string> => (await execFileAsync(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 })).stdout;

  expect(await cli('produce', 'requests', input)).toContain(`${VALID + INVALID} messages`);

  const committed = async (): Promise<number> => {
    const offsets = await withAdmin((admin) => admin.groupOffsets(group, topic));
    return [...offsets.values()].reduce((n, o) => n + Number(o), 0);
  };
  const random = seededRandom(5);
  const total = VALID + INVALID;
  for (const share of [0.15, 0.4, 0.65]) {
    const collector = startCollector(env);
    await until(`${share * 100}% committed`, async () => ((await committed()) >= total * share ? true : undefined), 90_000, 20);
    // Somewhere in the next batch or two: inside an insert, between insert and commit, or between batches.
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 150)));
    collector.child.kill('SIGKILL');
    expect(await collector.exit).toMatchObject({ signal: 'SIGKILL' });
  }

  // SIGTERM: stop fetching, write and commit what was taken, exit 0.
  const collector = startCollector(env);
  await until('80% committed', async () => ((await committed()) >= total * 0.8 ? true : undefined), 90_000, 20);
  collector.child.kill('SIGTERM');
  const stopped = await collector.exit;
  expect(stopped, collector.stderr()).toMatchObject({ code: 0 });

  const last = JSON.parse(await cli('collect', 'requests', '--once', '--json')) as { clean: boolean };
  expect(last.clean).toBe(true);
  expect(await committed()).toBe(total);

  const counts = JSON.parse(await cli('sql', '--format', 'json', "SELECT count() AS n, uniqExact(request_id) AS ids, toString(sum(gpu_ms)) AS gpu_ms FROM inference_requests_dedup")) as { n: string; ids: string; gpu_ms: string };
  expect(counts).toMatchObject({ n: String(VALID), ids: String(VALID) });

  // Dead letters: one per invalid event (a crash may re-send one; the key says which source offset it is).
  const dead = await readTopic(`${topic}.dlq`);
  expect(new Set(dead.map((m) => m.key)).size).toBe(INVALID);

  // Attribution of the crash-riddled stream equals attribution of the same file ingested cleanly.
  const attribute = async (database: string): Promise<string> => {
    await cli('--database', database, 'ingest', 'billing', join(FIXTURES, 'billing-focus.csv'), '--format', 'focus');
    await cli('--database', database, 'attribute', '--from', '2026-10-01', '--to', '2026-10-02');
    return cli('--database', database, 'sql', '--format', 'csv',
      'SELECT period_start, pool_id, model_id, model_version, feature_id, tenant_id, team, requests, gpu_ms, toString(cost), toString(used_cost) FROM cost_allocation ORDER BY ALL');
  };
  await cli('--database', 'from_file', 'ingest', 'requests', input);
  const fromFile = await attribute('from_file');
  const fromKafka = await attribute('inferledger');
  expect(fromFile.split('\n').length).toBeGreaterThan(10);
  expect(fromKafka).toBe(fromFile);
  const coverage = JSON.parse(await cli('sql', '--format', 'json', 'SELECT sum(requests) AS requests, sum(attributed_requests) AS attributed FROM coverage_daily')) as Record<string, string>;
  expect(coverage).toEqual({ requests: String(VALID), attributed: String(VALID) });
  expect(counts.gpu_ms).not.toBe('0');
});

function startCollector(env: NodeJS.ProcessEnv): { child: ReturnType<typeof spawn>; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, 'collect', 'requests'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { resolve({ code, signal }); });
  });
  return { child, exit, stderr: () => stderr };
}
