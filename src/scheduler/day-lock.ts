/**
 * A lock per (job, window) in Redis, so two runs of the same day never
 * overlap, whichever workers or input versions they come from. SET NX PX with
 * a random token, renewed while the work runs, released only by its holder; a
 * killed worker's lock expires after its TTL and the day can run again.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

export class LockBusyError extends Error {
  override name = 'LockBusyError';
}

/**
 * Run `work` holding the lock `key`; throws LockBusyError without running it
 * when another holder has it. When renewal finds the lock lost (Redis was
 * flushed, or the TTL passed while the process was stalled), `lost` aborts.
 */
export async function withLock<T>(redis: Redis, key: string, ttlMs: number, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
  const token = randomBytes(12).toString('hex');
  const taken = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (taken !== 'OK') throw new LockBusyError(`${key} is held by another run`);
  const lost = new AbortController();
  const renew = setInterval(() => {
    redis.eval(RENEW, 1, key, token, String(ttlMs)).then(
      (ok) => { if (ok === 0) lost.abort(new Error(`lock ${key} was lost`)); },
      // Redis unreachable for a moment: the lock lives on until its TTL; the next renewal tries again.
      () => undefined,
    );
  }, Math.max(250, Math.floor(ttlMs / 3)));
  try {
    return await work(lost.signal);
  } finally {
    clearInterval(renew);
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
