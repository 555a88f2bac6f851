/**
 * The collector's /healthz verdict on its own: what counts as stuck, and
 * what the detail says.
 */
import { expect, it } from 'vitest';
import { CollectorLiveness, collectorHealth } from '../src/collector/collector-health.js';
import { emptyStats } from '../src/collector/collector-options.js';

function liveness(lastFetchAt: number, lastWriteAt: number, failingSince?: number): CollectorLiveness {
  const live = new CollectorLiveness();
  live.lastFetchAt = lastFetchAt;
  live.lastWriteAt = lastWriteAt;
  live.failingSince = failingSince;
  return live;
}

it('is ok while fetches and queued writes are recent, and reports the counts', () => {
  const stats = { ...emptyStats(), messages: 10, written: 9, deadLettered: 1, commits: 2 };
  expect(collectorHealth({ crashed: undefined, liveness: liveness(95_000, 1_000), queued: 0, assigned: [0, 2], stats, stuckAfterMs: 10_000 }, 100_000)).toEqual({
    ok: true,
    detail: { problems: [], assigned: [0, 2], queuedBatches: 0, failingForMs: 0, messages: 10, written: 9, duplicates: 0, deadLettered: 1, commits: 2, writeFailures: 0 },
  });
});

it('names each problem: a crash, no fetch, no write with some waiting, and how long writes fail', () => {
  const health = collectorHealth(
    { crashed: new Error('broker gone'), liveness: liveness(80_000, 85_000, 88_000), queued: 3, assigned: [], stats: emptyStats(), stuckAfterMs: 10_000 },
    100_000,
  );
  expect(health.ok).toBe(false);
  expect(health.detail).toMatchObject({
    problems: ['consumer crashed: broker gone', 'no fetch for 20000 ms', 'no batch written for 15000 ms (3 waiting)'],
    queuedBatches: 3,
    failingForMs: 12_000,
  });
  // Exactly at the limit is not stuck yet.
  expect(collectorHealth({ crashed: undefined, liveness: liveness(90_000, 90_000), queued: 1, assigned: [], stats: emptyStats(), stuckAfterMs: 10_000 }, 100_000).ok).toBe(true);
});

it('stamps fetches and writes, and clears the failing time on a write', () => {
  const live = liveness(0, 0);
  live.writeFailed();
  const since = live.failingSince;
  expect(since).toBeGreaterThan(0);
  live.writeFailed();
  expect(live.failingSince).toBe(since);
  live.wrote();
  live.fetched();
  expect(live.failingSince).toBeUndefined();
  expect(live.lastWriteAt).toBeGreaterThan(0);
  expect(live.lastFetchAt).toBeGreaterThan(0);
});
