/**
 * The service as users run it (`inferledger run`, processes of their own) on
 * the embedded warehouse and a private Redis: a worker SIGKILLed in the middle
 * of attributing a day, a second worker that picks the day up again, SIGTERM
 * within the grace period, and a SIGTERM while Redis is unreachable.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../src/config/config.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { JOB_REGISTRY } from '../jobs/registry.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const execFileAsync = promisify(execFile);
const REQUESTS = 150_000;
const DAY = '2026-10-01';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.dispose();
});

interface Child {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (signal: NodeJS.Signals) => void;
  stderr: () => string;
}

function start(env: NodeJS.ProcessEnv, ...args: string[]): Child {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { resolve({ code, signal }); });
  });
  return { exit, kill: (signal) => { child.kill(signal); }, stderr: () => stderr };
}

it('a worker SIGKILLed mid-job: the day runs again on another worker, correct and not doubled; SIGTERM exits cleanly, even without Redis', async () => {
  const dir = tempDir();
  const prefix = uniquePrefix();
  const configFile = writeTemp(dir, 'config.json', JSON.stringify({ jobs: { prefix, billingPull: false, billingStart: DAY, dayLockMs: 3_000, shutdownGraceMs: 8_000 }, report: { outDir: join(dir, 'reports') } }));
  const env = { ...process.env, REDIS_URL: redis.url, INFERLEDGER_CONFIG: configFile, INFERLEDGER_DATA_DIR: join(dir, 'warehouse') };
  const cli = async (...args: string[]): Promise<string> => (await execFileAsync(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 })).stdout;
  const requests = writeTemp(dir, 'requests.ndjson', `${sampleRequestLines(REQUESTS, 7, 'kill-').join('\n')}\n`);
  await cli('ingest', 'requests', requests);
  await cli('ingest', 'billing', join(FIXTURES, 'billing-focus.csv'), '--format', 'focus');

  const config = configSchema.parse({ redis: { url: redis.url }, jobs: { prefix } });
  const observer = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined, failFast: true });
  const probe = new Redis(redis.url);
  probe.on('error', () => undefined);
  try {
    const scheduler = start(env, 'run', '--role', 'scheduler');
    const first = start(env, 'run', '--role', 'worker');
    // The day's lock is taken: the worker is inside the attribution of the day.
    await waitFor(async () => (await probe.exists(`${prefix}:lock:attribute-day:${DAY}`)) === 1, { what: 'the day to be in progress', everyMs: 5, unless: first.exit });
    first.kill('SIGKILL');
    expect(await first.exit).toMatchObject({ signal: 'SIGKILL' });

    // The job was active on the killed worker: BullMQ sees it stalled and another worker runs it.
    const second = start(env, 'run', '--role', 'worker');
    const dayJobDone = async (): Promise<boolean> => {
      const done = await observer.queue(QUEUES.attribute).getJobs(['completed']);
      return done.some((j) => j.name === 'attribute-day');
    };
    await waitFor(dayJobDone, { what: 'the day to be attributed by the second worker', timeoutMs: 150_000, unless: second.exit });
    // The pass's rollups enqueue the alerts and the month's report: let them finish, so SIGTERM finds nothing running.
    const drained = async (): Promise<boolean> => {
      for (const queue of Object.values(QUEUES)) {
        const counts = await observer.queue(queue).getJobCounts('wait', 'active', 'prioritized', 'waiting-children');
        if (Object.values(counts).some((n) => n > 0)) return false;
      }
      return true;
    };
    await waitFor(drained, { what: 'the jobs after the pass to finish', timeoutMs: 120_000, unless: second.exit });

    second.kill('SIGTERM');
    scheduler.kill('SIGTERM');
    expect(await second.exit, second.stderr()).toEqual({ code: 0, signal: null });
    expect(await scheduler.exit, scheduler.stderr()).toEqual({ code: 0, signal: null });

    const json = async (sql: string): Promise<Record<string, string>> => JSON.parse(await cli('sql', '--format', 'json', sql)) as Record<string, string>;
    // Exactly one recorded run of the day: the killed one never finished.
    expect(await json('SELECT count() AS runs, sum(requests) AS requests FROM attribution_runs')).toEqual({ runs: '1', requests: String(REQUESTS) });
    // Ties out: every request once, the whole bill once.
    const totals = await json('SELECT toString(sum(billed_cost)) AS billed, toString(sum(allocated_cost) + sum(idle_cost) + sum(unallocated_cost)) AS parts, sum(requests) AS requests FROM coverage_daily');
    const billed = await json("SELECT toString(sum(effective_cost)) AS billed FROM billing_current");
    expect(totals).toEqual({ billed: billed['billed'], parts: expect.any(String) as string, requests: String(REQUESTS) });
    expect(await json('SELECT sum(requests) AS requests FROM cpp_daily')).toEqual({ requests: String(REQUESTS) });

    // SIGTERM while Redis is unreachable: the worker still exits, within its grace period.
    const third = start(env, 'run', '--role', 'worker');
    await waitFor(() => third.stderr().includes('inferledger run --role worker'), { what: 'the third worker to start', unless: third.exit });
    await redis.stop();
    third.kill('SIGTERM');
    const ended = await Promise.race([third.exit, new Promise<'still running'>((resolve) => { setTimeout(() => { resolve('still running'); }, 8_000 + 3_000 + 2_000).unref(); })]);
    expect(ended, third.stderr()).not.toBe('still running');
    await redis.start();
  } finally {
    probe.disconnect();
    await observer.close(0);
  }
}, 300_000);
