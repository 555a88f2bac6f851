/**
 * A Redis of one's own for tests: `redis-server` on a free port, persistence
 * off, in a temporary directory; it can be stopped and started again on the
 * same port (outage tests). With REDIS_URL set, that server is used instead
 * (and cannot be stopped). Each test isolates its queues by a key prefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface TestRedis {
  readonly url: string;
  /** Stop the server (SIGKILL: as abrupt as a crash). Refused for an external REDIS_URL. */
  stop(): Promise<void>;
  /** Start it again on the same port (empty: persistence is off). */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export function uniquePrefix(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

async function ping(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startTestRedis(): Promise<TestRedis> {
  const external = process.env['REDIS_URL'];
  if (external) {
    return {
      url: external,
      stop: () => Promise.reject(new Error('REDIS_URL is set: this test needs a private redis-server')),
      start: () => Promise.resolve(),
      dispose: () => Promise.resolve(),
    };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'inferledger-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    child = proc;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => { resolve(); }));
    await waitFor(() => ping(url), { timeoutMs: 15_000, what: `redis-server on port ${port}`, unless: exited });
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => { resolve(); }));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    start,
    stop,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
