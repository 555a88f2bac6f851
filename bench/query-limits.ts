/**
 * bench/query-limits: what analysts' runaway queries do to the process that
 * serves them, under the default limits (configuration `queries`). A child
 * process opens an embedded warehouse and serves the query endpoint exactly
 * as `inferledger run` does, with three users; this process sends it:
 *
 *   1. one memory-hungry query (`length(groupArray(number))` over 600M rows,
 *      which took an unbounded service from 0.4 GB to 9.8 GB);
 *   2. the same from six users at once;
 *   3. one CPU-bound query that would run for minutes;
 *
 * and samples the child's resident memory (/proc/<pid>/status) every 50 ms.
 * Printed: each answer (status, error code), its time, and the child's peak
 * RSS over its idle RSS. Writes bench/results/query-limits.json.
 *
 *   npx tsx bench/query-limits.ts [--cpu-seconds 120]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { passwordSha256Hex } from '../src/access/authenticate.js';
import { configSchema } from '../src/config/config.js';
import { startQueryEndpoint } from '../src/service/query-endpoint.js';
import { migrate } from '../src/warehouse/migrate.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ options: { serve: { type: 'string' }, 'cpu-seconds': { type: 'string' } } });
const USERS = ['a', 'b', 'c', 'd', 'e', 'f'];

/** The child: the endpoint as the service starts it, its port on stdout. */
async function serve(dataDir: string): Promise<void> {
  const database = 'bench_limits';
  const writer = await openWarehouse({ ...configSchema.shape.warehouse.parse({}), dataDir, database });
  await migrate(writer);
  const reader = await openWarehouse({ ...configSchema.shape.warehouse.parse({}), dataDir, database });
  const queries = configSchema.shape.queries.parse(args['cpu-seconds'] === undefined ? {} : { maxExecutionSeconds: args['cpu-seconds'] });
  const access = configSchema.shape.access.parse({ users: USERS.map((name) => ({ name, password_sha256_hex: passwordSha256Hex(name), scope: 'all' })) });
  const endpoint = await startQueryEndpoint({ warehouse: reader, host: '127.0.0.1', port: 0, queries, access, log: () => undefined });
  process.stdout.write(`${JSON.stringify({ port: endpoint.port, queries })}\n`);
}

function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

async function measure(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-query-limits-'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'query-limits.ts'), '--serve', dataDir, ...(args['cpu-seconds'] ? ['--cpu-seconds', args['cpu-seconds']] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => { resolve(chunk.toString()); });
      child.once('exit', (code) => { reject(new Error(`the endpoint exited (${code ?? 'signal'})`)); });
    });
    const { port, queries } = JSON.parse(first) as { port: number; queries: Record<string, number> };
    const pid = child.pid as number;
    const ask = async (user: string, sql: string): Promise<{ status: number; code: string; seconds: number }> => {
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: sql, headers: { Authorization: `Basic ${Buffer.from(`${user}:${user}`).toString('base64')}` } });
      const text = await res.text();
      return { status: res.status, code: res.headers.get('x-clickhouse-exception-code') ?? (text.startsWith('Code:') ? text.slice(6, text.indexOf('.')) : '0'), seconds: (performance.now() - started) / 1000 };
    };
    await ask('a', 'SELECT 1');
    const idle = rssBytes(pid, 'VmRSS');
    let peak = idle;
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(pid, 'VmRSS')); }, 50);
    const phase = async <T>(work: () => Promise<T>): Promise<{ result: T; peakOverIdleMB: number }> => {
      peak = rssBytes(pid, 'VmRSS');
      const result = await work();
      return { result, peakOverIdleMB: Math.round((peak - idle) / 1024 ** 2) };
    };
    const MEMORY = 'SELECT length(groupArray(number)) FROM numbers(600000000)';
    const one = await phase(() => ask('a', MEMORY));
    const six = await phase(() => Promise.all(USERS.map((u) => ask(u, MEMORY))));
    const cpu = await phase(() => ask('a', 'SELECT sum(cityHash64(number)) FROM numbers(1000000000000)'));
    const after = await ask('b', 'SELECT 1');
    clearInterval(sampler);
    const result = {
      node: process.version,
      limits: { maxMemoryBytes: queries['maxMemoryBytes'], maxTotalMemoryBytes: queries['maxTotalMemoryBytes'], maxExecutionSeconds: queries['maxExecutionSeconds'], concurrency: queries['concurrency'] },
      idleRssMB: Math.round(idle / 1024 ** 2),
      memoryQuery: one,
      memoryQueryBySixUsers: six,
      cpuQuery: cpu,
      answersAfterwards: after.status === 200,
      processPeakRssMB: Math.round(rssBytes(pid, 'VmHWM') / 1024 ** 2),
    };
    console.log(`idle RSS ${result.idleRssMB} MB; limits ${JSON.stringify(result.limits)}`);
    console.log(`one memory query: HTTP ${one.result.status}, code ${one.result.code}, ${one.result.seconds.toFixed(1)} s, peak +${one.peakOverIdleMB} MB`);
    console.log(`six users at once: ${six.result.map((r) => `${r.status}/${r.code}`).join(' ')}, slowest ${Math.max(...six.result.map((r) => r.seconds)).toFixed(1)} s, peak +${six.peakOverIdleMB} MB`);
    console.log(`CPU-bound query: HTTP ${cpu.result.status}, code ${cpu.result.code}, stopped after ${cpu.result.seconds.toFixed(1)} s, peak +${cpu.peakOverIdleMB} MB`);
    console.log(`answers afterwards: ${result.answersAfterwards}; process peak RSS ${result.processPeakRssMB} MB`);
    writeResult('query-limits', result);
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (args.serve !== undefined) await serve(args.serve);
else await measure();
