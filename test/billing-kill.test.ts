/**
 * `inferledger ingest billing` as users run it (a process of its own), killed
 * with SIGKILL after it has written part of a restated export: what readers
 * see (billing_current and every derived table, also after attributing
 * again) is exactly what they saw before.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'csv-stringify/sync';
import { expect, it } from 'vitest';
import { tempDir, writeTemp } from './helpers/files.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const run = promisify(execFile);
const HOUR = 3_600_000;
const OCT1 = Date.UTC(2026, 9, 1);
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const HEADER = ['BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost', 'BillingCurrency', 'ConsumedQuantity', 'ConsumedUnit', 'x_InstanceType', 'ResourceId', 'Tags'];
const line = (hour: number, cost: string, resource: string): string[] => [
  '111', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', iso(OCT1 + hour * HOUR), iso(OCT1 + (hour + 1) * HOUR),
  cost, cost, 'USD', '1', 'Hours', 'g6.xlarge', resource, JSON.stringify({ 'inference-pool': `p${hour % 3}` }),
];

/** Everything a reader sees, as text: the current bill and the four derived tables. */
const VISIBLE = `
SELECT t, r FROM (
    SELECT 'billing_current' AS t, formatRow('CSV', *) AS r FROM billing_current
    UNION ALL SELECT 'cost_allocation', formatRow('CSV', *) FROM (SELECT * EXCEPT attributed_at FROM cost_allocation)
    UNION ALL SELECT 'pool_cost', formatRow('CSV', *) FROM (SELECT * EXCEPT attributed_at FROM pool_cost)
    UNION ALL SELECT 'cpp_daily', formatRow('CSV', *) FROM (SELECT * EXCEPT attributed_at FROM cpp_daily)
    UNION ALL SELECT 'coverage_daily', formatRow('CSV', *) FROM (SELECT * EXCEPT attributed_at FROM coverage_daily)
) ORDER BY t, r`;

/** How far a process has read into a file (Linux /proc), or 0 when it has no such file open. */
function inputPosition(pid: number | undefined, file: string): number {
  if (pid === undefined) return 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return Number(/^pos:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? 0);
    }
  } catch {
    // The process or descriptor went away between listing and reading.
  }
  return 0;
}

/** Poll a condition until it holds, or fail after the deadline. */
async function until(condition: () => boolean, deadlineMs: number, context: () => string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`condition not met within ${deadlineMs} ms: ${context()}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

it('a billing import killed part-way changes nothing readers see', { timeout: 180_000 }, async () => {
  const dir = tempDir();
  const env = { ...process.env, INFERLEDGER_DATA_DIR: join(dir, 'warehouse'), INFERLEDGER_BATCH_ROWS: '1000' };
  const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 })).stdout;

  const base = writeTemp(dir, 'october.csv', stringify([HEADER, ...Array.from({ length: 24 }, (_, h) => line(h, '10', 'i-1'))]));
  const requests = writeTemp(dir, 'requests.ndjson', Array.from({ length: 30 }, (_, i) =>
    JSON.stringify({ request_id: `r${i}`, ts: OCT1 + i * 40 * 60_000, model_id: 'm', feature_id: 'f', tenant_id: 't', pool_id: `p${i % 3}`, gpu_ms: 100 })).join('\n'));
  // A restated October, large enough to be written in many inserts.
  const restated = writeTemp(dir, 'october-restated.csv', stringify([HEADER, ...Array.from({ length: 60_000 }, (_, i) => line(i % 744, '0.5', `i-${i}`))]));
  await cli('ingest', 'billing', base, '--format', 'focus');
  await cli('ingest', 'requests', requests);
  await cli('attribute', '--from', '2026-10-01', '--to', '2026-10-02');
  const before = await cli('sql', VISIBLE, '--format', 'csv');
  expect(before).toMatch(/"pool_cost"/);

  const child = spawn(process.execPath, [BIN, 'ingest', 'billing', restated, '--format', 'focus'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((ok) => child.on('exit', (_code, signal) => { ok(signal); }));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  // Wait (with a deadline) until some of its lines are in the warehouse: it says so after each insert,
  // or (whatever it prints) it has read well past its first inserts' worth of the file.
  await until(() => /october-restated\.csv: \d+ lines written/.test(stderr) || inputPosition(child.pid, restated) > 2 << 20, 60_000, () => stderr);
  child.kill('SIGKILL');  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const written = Number((await cli('sql', 'SELECT count() FROM billing_line_items', '--format', 'csv')).trim().split('\n').at(-1));
  expect(written).toBeGreaterThan(24);
  expect(await cli('sql', VISIBLE, '--format', 'csv')).toBe(before);
  await cli('attribute', '--from', '2026-10-01', '--to', '2026-10-02');
  expect(await cli('sql', VISIBLE, '--format', 'csv')).toBe(before);
});
