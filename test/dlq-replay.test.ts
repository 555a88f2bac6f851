/**
 * `dlq replay` against the real broker (global-setup) and the real embedded
 * warehouse: a day of events without pool_id, dead-lettered by the real
 * collector, repaired with --set and stored exactly once; a dry run and a
 * second replay store nothing; --reason and --since choose dead letters; a
 * refused row (a conflicting duplicate) turns back into its event; and a
 * replay killed with SIGKILL midway, run again, loses and doubles nothing.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { RequestCollector } from '../src/collector/request-collector.js';
import type { OutgoingMessage } from '../src/kafka/stream.js';
import type { DlqReplayReport } from '../src/replay/dlq-replay.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { event, tempDir } from './helpers/files.js';
import { brokers, collectorOptions, freshTopic, produce, testClient, uniqueGroup, until, withAdmin } from './helpers/kafka.js';
import { freshWarehouse, scalar, TEST_DATA_DIR } from './helpers/warehouse.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const execFileAsync = promisify(execFile);

const NO_POOL = 300;
const NEGATIVE = 40;
const VALID = 60;
/** conf-1 is stored first with this GPU time; its second copy differs and is dead-lettered as a conflicting duplicate. */
const CONFLICT_GPU_MS = 321.5;
const DEAD = NO_POOL + NEGATIVE + 1;
const COLLECTOR_GROUP = 'collector';
const REPLAY_GROUP = `${COLLECTOR_GROUP}-dlq-replay`;

let warehouse: Warehouse;
let topic: string;
const logs: string[] = [];
/** Sample events as a producer with a bug sends them: without pool_id. */
function withoutPool(lines: readonly string[]): string[] {
  return lines.map((line) => JSON.stringify({ ...(JSON.parse(line) as Record<string, unknown>), pool_id: undefined }));
}
const noPool = withoutPool(sampleRequestLines(NO_POOL, 11, 'np-'));

/** `inferledger ...` in this process, on this file's warehouse and topic. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const env = { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: warehouse.database, KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: COLLECTOR_GROUP };
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function replay(...args: string[]): Promise<DlqReplayReport> {
  const result = await cli('dlq', 'replay', '--json', ...args);
  expect(result.code, result.err).toBe(0);
  return JSON.parse(result.out) as DlqReplayReport;
}

/** Every message of the request topic up to now, consumed by the collector's group. */
async function collect(): Promise<RequestCollector> {
  const collector = new RequestCollector(collectorOptions(topic, COLLECTOR_GROUP, { batchAgeMs: 100 }), { warehouse, client: testClient(), log: (line) => { logs.push(line); } });
  await collector.start();
  await collector.caughtUp();
  expect(await collector.stop()).toBe(true);
  return collector;
}

async function count(sql: string, params: Record<string, unknown> = {}): Promise<number> {
  return scalar(warehouse, sql, params);
}

/** Messages in the dead-letter topic (nothing is deleted from it in a test). */
const dlqEnd = (): Promise<number> => withAdmin(async (admin) => (await admin.topicOffsets(`${topic}.dlq`)).reduce((n, p) => n + Number(p.high), 0));
/** The sum of a group's committed offsets on a topic. */
const committed = (group: string, dlq = `${topic}.dlq`): Promise<number> => withAdmin(async (admin) => [...(await admin.groupOffsets(group, dlq)).values()].reduce((n, o) => n + Number(o), 0));

beforeAll(async () => {
  warehouse = await freshWarehouse();
  topic = await freshTopic(3);
  const messages: OutgoingMessage[] = [
    ...noPool.map((value, i) => ({ key: `np-${i}`, value })),
    ...sampleRequestLines(NEGATIVE, 12, 'neg-').map((line, i) => ({ key: `neg-${i}`, value: JSON.stringify({ ...(JSON.parse(line) as object), gpu_ms: -1 }) })),
    ...sampleRequestLines(VALID, 13, 'ok-').map((value, i) => ({ key: `ok-${i}`, value })),
    { key: 'conf-1', value: JSON.stringify(event({ request_id: 'conf-1', gpu_ms: CONFLICT_GPU_MS })) },
    { key: 'conf-1', value: JSON.stringify(event({ request_id: 'conf-1', gpu_ms: 999 })) },
  ];
  await produce(topic, messages);
  const collector = await collect();
  expect(collector.stats).toMatchObject({ written: VALID + 1, deadLettered: DEAD });
});
afterAll(async () => { await warehouse.close(); });

describe('dlq replay', () => {
  it('in a dry run, reports what it would store and why the rest stays, and stores and commits nothing', async () => {
    const report = await replay('--set', 'pool_id=llm-h100', '--dry-run');
    expect(report).toMatchObject({ dryRun: true, read: DEAD, skipped: 0, stored: NO_POOL, duplicates: 0, invalid: NEGATIVE + 1, groupId: REPLAY_GROUP });
    expect(report.reasons.map((r) => [r.reason, r.count])).toEqual([
      ['gpu_ms: must be >= 0', NEGATIVE],
      ['conflicting duplicate of request_id "conf-1": gpu_ms differs from the copy stored first', 1],
    ]);
    expect(report.reasons[0]?.examples).toHaveLength(3);
    expect(report.reasons[0]?.examples[0]).toMatchObject({ at: expect.stringMatching(new RegExp(`^${topic}\\.dlq/\\d/\\d+$`)) as string, was: 'gpu_ms: must be >= 0' });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, 'np-')")).toBe(0);
    expect(await committed(REPLAY_GROUP)).toBe(0);

    const text = await cli('dlq', 'replay', '--set', 'pool_id=llm-h100', '--dry-run');
    expect(text.out).toContain(`dead letters of ${topic}.dlq (group ${REPLAY_GROUP}): ${DEAD} read, 0 skipped by the filters, ${NO_POOL} would be stored, 0 already stored, ${NEGATIVE + 1} still invalid`);
    expect(text.out).toContain(`${NEGATIVE} x gpu_ms: must be >= 0`);
    expect(text.out).toContain('dry run: nothing stored, nothing committed');
  });

  it('stores the repaired events exactly once, as they were sent plus the field set, and leaves the invalid ones in the topic', async () => {
    const report = await replay('--set', 'pool_id=llm-h100');
    expect(report).toMatchObject({ dryRun: false, read: DEAD, stored: NO_POOL, duplicates: 0, invalid: NEGATIVE + 1 });
    const ids = { prefix: 'np-' };
    expect(await count('SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})', ids)).toBe(NO_POOL);
    expect(await count('SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', ids)).toBe(NO_POOL);
    expect(await count('SELECT uniqExact(request_id) AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})', ids)).toBe(NO_POOL);
    expect(await count("SELECT countIf(pool_id != 'llm-h100') AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})", ids)).toBe(0);
    // Content: every event as sent, to the microsecond, tokens and attributes included.
    const rows = await warehouse.query(
      "SELECT request_id, toUnixTimestamp64Milli(ts) AS ts, model_id, model_version, tenant_id, team, toUInt64(gpu_ms * 1000) AS gpu_micros, input_tokens, output_tokens, attributes['client'] AS client, source FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String}) ORDER BY request_id",
      ids,
      z.object({ request_id: z.string(), ts: z.coerce.number(), model_id: z.string(), model_version: z.string(), tenant_id: z.string(), team: z.string(), gpu_micros: z.coerce.number(), input_tokens: z.coerce.number(), output_tokens: z.coerce.number(), client: z.string(), source: z.string() }),
    );
    expect(rows).toEqual(noPool.map((line) => {
      const sent = JSON.parse(line) as { request_id: string; ts: string; model_id: string; model_version: string; tenant_id: string; team: string; gpu_ms: number; input_tokens: number; output_tokens: number; client: string };
      return {
        request_id: sent.request_id, ts: Date.parse(sent.ts), model_id: sent.model_id, model_version: sent.model_version, tenant_id: sent.tenant_id, team: sent.team,
        gpu_micros: Math.round(sent.gpu_ms * 1000), input_tokens: sent.input_tokens, output_tokens: sent.output_tokens, client: sent.client, source: `kafka:${topic}`,
      };
    }));
    expect(await committed(REPLAY_GROUP)).toBe(await dlqEnd());
    // Not dead-lettered again: the topic holds what the collector sent, no more.
    expect(await dlqEnd()).toBe(DEAD);
  });

  it('stores nothing twice: its group has committed, and a new group finds every event stored', async () => {
    expect(await replay('--set', 'pool_id=llm-h100')).toMatchObject({ read: 0, stored: 0, duplicates: 0, invalid: 0 });
    const again = await replay('--set', 'pool_id=llm-h100', '--group', uniqueGroup());
    expect(again).toMatchObject({ read: DEAD, stored: 0, duplicates: NO_POOL, invalid: NEGATIVE + 1 });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, 'np-')")).toBe(NO_POOL);
    expect(await dlqEnd()).toBe(DEAD);
  });

  it('keeps only the dead letters whose reason contains --reason', async () => {
    const report = await replay('--reason', 'gpu_ms: must be', '--set', 'gpu_ms=0', '--group', uniqueGroup());
    expect(report).toMatchObject({ read: DEAD, skipped: NO_POOL + 1, stored: NEGATIVE, duplicates: 0, invalid: 0 });
    expect(await count("SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, 'neg-') AND gpu_ms = 0")).toBe(NEGATIVE);
  });

  it('turns a refused row back into its event: still a conflict as it was, a duplicate once repaired', async () => {
    const group = uniqueGroup();
    const asWas = await replay('--reason', 'conflicting duplicate', '--group', uniqueGroup());
    expect(asWas).toMatchObject({ skipped: DEAD - 1, stored: 0, duplicates: 0, invalid: 1 });
    expect(asWas.reasons[0]?.examples[0]?.value).toContain('"request_id":"conf-1"');
    const repaired = await replay('--reason', 'conflicting duplicate', '--set', `gpu_ms=${CONFLICT_GPU_MS}`, '--group', group);
    expect(repaired).toMatchObject({ skipped: DEAD - 1, stored: 0, duplicates: 1, invalid: 0 });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE request_id = 'conf-1'")).toBe(1);
  });

  it('keeps only the dead letters sent at or after --since', async () => {
    const late = withoutPool(sampleRequestLines(30, 14, 'late-'));
    const since = new Date();
    await produce(topic, late.map((value, i) => ({ key: `late-${i}`, value })));
    await collect();
    const report = await replay('--since', since.toISOString(), '--set', 'pool_id=embed-l4', '--group', uniqueGroup());
    expect(report).toMatchObject({ read: DEAD + 30, skipped: DEAD, stored: 30, invalid: 0 });
    expect(await count("SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, 'late-') AND pool_id = 'embed-l4'")).toBe(30);
  });

  it('refuses a --set that is not field=value, a --since without a zone, and a dead-letter topic that does not exist', async () => {
    expect((await cli('dlq', 'replay', '--set', 'pool_id')).code).toBe(2);
    expect((await cli('dlq', 'replay', '--since', '2026-10-01T00:00:00')).code).toBe(2);
    const missing = await cli('dlq', 'replay', '--topic', 'no-such-topic');
    expect(missing).toMatchObject({ code: 1, err: expect.stringContaining('dead-letter topic "no-such-topic.dlq" does not exist') as string });
  });
});

it('a replay killed with SIGKILL midway and run again loses nothing and doubles nothing', async () => {
  const dir = tempDir();
  const killTopic = await freshTopic(3);
  const group = uniqueGroup();
  const events = 600;
  const lines = withoutPool(sampleRequestLines(events, 15, 'kill-'));
  const input = join(dir, 'requests.ndjson');
  writeFileSync(input, `${lines.join('\n')}\n`);
  // A short session: the run after the kill joins the group as soon as the broker has dropped the killed member.
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ kafka: { sessionTimeoutMs: 6000 } }));
  // The killed run stores in small chunks: many store-then-commit steps, so the kill lands between them or inside one.
  const smallChunks = join(dir, 'small-chunks.json');
  writeFileSync(smallChunks, JSON.stringify({ kafka: { batchRows: 5, sessionTimeoutMs: 6000 } }));
  const env = { ...process.env, KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC: killTopic, KAFKA_GROUP_ID: group, INFERLEDGER_CONFIG: configFile, INFERLEDGER_DATA_DIR: join(dir, 'warehouse') };
  const bin = async (...args: string[]): Promise<string> => (await execFileAsync(process.execPath, [BIN, ...args], { env, maxBuffer: 16 << 20 })).stdout;

  await bin('produce', 'requests', input);
  expect(JSON.parse(await bin('collect', 'requests', '--once', '--json'))).toMatchObject({ deadLettered: events, clean: true });

  const replayGroup = `${group}-dlq-replay`;
  const child = spawn(process.execPath, [BIN, 'dlq', 'replay', '--set', 'pool_id=clf-t4'], { env: { ...env, INFERLEDGER_CONFIG: smallChunks }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exit = new Promise<NodeJS.Signals | null>((resolve) => { child.on('exit', (_code, signal) => { resolve(signal); }); });
  await until('a quarter committed', async () => ((await committed(replayGroup, `${killTopic}.dlq`)) >= events / 4 ? true : undefined), 90_000, 10);
  child.kill('SIGKILL');
  expect(await exit, stderr).toBe('SIGKILL');
  const atKill = await committed(replayGroup, `${killTopic}.dlq`);
  expect(atKill).toBeLessThan(events);

  const report = JSON.parse(await bin('dlq', 'replay', '--set', 'pool_id=clf-t4', '--json')) as DlqReplayReport;
  // It goes on from the killed run's last commit (a commit still in flight at the kill may land later: then from there).
  expect(report.read).toBeGreaterThan(0);
  expect(report.read).toBeLessThanOrEqual(events - atKill);
  // What the killed run stored but had not committed is read again and found stored.
  expect(report.stored + report.duplicates).toBe(report.read);
  expect(report.invalid).toBe(0);
  expect(await committed(replayGroup, `${killTopic}.dlq`)).toBe(events);

  const counts = JSON.parse(await bin('sql', '--format', 'json',
    "SELECT (SELECT count() FROM inference_requests_dedup) AS analysts, (SELECT count() FROM inference_requests) AS on_disk, (SELECT uniqExact(request_id) FROM inference_requests) AS ids, (SELECT countIf(pool_id = 'clf-t4') FROM inference_requests) AS repaired")) as Record<string, string>;
  expect(counts).toEqual({ analysts: String(events), on_disk: String(events), ids: String(events), repaired: String(events) });
});
