/**
 * Redis and the scheduled jobs on it: Redis answering (and set up as BullMQ
 * needs it), jobs whose newest run failed, and windows owed that nobody has
 * worked off (JobRuntime.list(), what `inferledger jobs list` shows).
 */
import { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { JobStatus } from '../scheduler/runtime.js';
import { HOUR_MS } from '../util/time.js';
import { age, bytes, Finding, fail, ok, reason, some, warn, type Check, type CheckOutcome } from './check.js';

/** How long Redis may take to accept a connection and answer. */
export const REDIS_TIMEOUT_MS = 2_000;
/** Windows owed for longer than this, by the job's last report, are worth a look: nobody works them off. */
export const OWED_STALE_MS = 2 * HOUR_MS;
/** Redis memory in use above this share of maxmemory is a warning (BullMQ fails writes at the limit). */
export const REDIS_MEMORY_WARN = 0.9;

/** Where Redis is, without the password a URL may hold. */
export function redisWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** A connection that fails at once, never retries, and queues nothing while away. */
export async function connectRedis(config: Config): Promise<Redis> {
  const client = new Redis(config.redis.url, {
    lazyConnect: true, connectTimeout: REDIS_TIMEOUT_MS, commandTimeout: REDIS_TIMEOUT_MS,
    maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
  // Said by the check, not printed; the socket's own error (ECONNREFUSED, ...) says more than the command's.
  let socketError: unknown;
  client.on('error', (err) => { socketError ??= err; });
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (err) {
    client.disconnect();
    throw new Finding(`${redisWhere(config.redis.url)} does not answer: ${reason(socketError ?? err)}`, 'start Redis, or set redis.url (REDIS_URL)');
  }
}

/** `INFO` text as fields. */
function infoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return out;
}

export const redisCheck: Check = {
  name: 'redis',
  group: 'redis',
  timeoutMs: 3 * REDIS_TIMEOUT_MS,
  errorFix: 'start Redis, or set redis.url (REDIS_URL)',
  run: async (ctx) => {
    const where = redisWhere(ctx.config.redis.url);
    const client = await connectRedis(ctx.config);
    try {
      const info = infoFields(await client.info());
      const version = info.get('redis_version') ?? '?';
      const used = Number(info.get('used_memory') ?? 0);
      const max = Number(info.get('maxmemory') ?? 0);
      const policy = info.get('maxmemory_policy') ?? 'noeviction';
      const data = { where, version, usedMemory: used, maxMemory: max, policy, prefix: ctx.config.jobs.prefix };
      const memory = max > 0 ? `${bytes(used)} of ${bytes(max)}` : `${bytes(used)} used`;
      if (policy !== 'noeviction') {
        return warn(`${where} answers (Redis ${version}), but maxmemory-policy is ${policy}: queued jobs can be evicted`, 'set maxmemory-policy noeviction in the Redis configuration (BullMQ needs it)', data);
      }
      if (max > 0 && used / max > REDIS_MEMORY_WARN) {
        return warn(`${where} answers (Redis ${version}), memory ${memory}: near its maxmemory`, 'raise maxmemory in the Redis configuration, or look for queues piling up (inferledger jobs list)', data);
      }
      return ok(`${where} answers (Redis ${version}, ${memory})`, data);
    } finally {
      client.disconnect();
    }
  },
};

const shortError = (text: string): string => {
  const line = text.split('\n')[0] ?? '';
  return line.length > 140 ? `${line.slice(0, 137)}...` : line;
};

const jobData = (s: JobStatus): Record<string, unknown> => ({
  name: s.name, queue: s.queue, lastRun: s.lastRun, lastState: s.lastState, lastError: s.lastError, failed: s.failed, owed: s.owed, owedAt: s.owedAt,
});

/** Jobs whose newest run failed (FAIL), failed runs kept behind newer good ones (WARN). */
export const jobsCheck: Check = {
  name: 'jobs',
  group: 'jobs',
  timeoutMs: 15_000,
  errorFix: 'inferledger jobs list',
  run: async (ctx) => {
    const statuses = await ctx.jobStatuses();
    const data = { prefix: ctx.config.jobs.prefix, jobs: statuses.map(jobData) };
    const failing = statuses.filter((s) => s.lastState === 'failed');
    if (failing.length > 0) {
      const first = failing[0] as JobStatus;
      const others = failing.length > 1 ? ` (also failing: ${some(failing.slice(1).map((s) => s.name))})` : '';
      return fail(
        `${first.name}: newest run failed ${age(ctx.now - Date.parse(first.lastRun))} ago: ${shortError(first.lastError)}${others}`,
        `fix the cause, then \`inferledger jobs retry ${first.name}\` (details: inferledger jobs list)`,
        data,
      );
    }
    // A queue's failed count is shared by the jobs of the queue: said once per queue.
    const kept = new Map(statuses.filter((s) => s.failed > 0).map((s) => [s.queue, s]));
    if (kept.size > 0) {
      const names = [...kept.values()].map((s) => `${s.failed} in ${s.queue}`);
      const error = [...kept.values()].find((s) => s.lastError !== '')?.lastError ?? '';
      return warn(
        `failed runs kept behind newer good ones: ${names.join(', ')}${error ? ` (last error: ${shortError(error)})` : ''}`,
        'inferledger jobs list, then `inferledger jobs retry <name>` for what is still needed (failed runs age out after 30 days)',
        data,
      );
    }
    const ran = statuses.filter((s) => s.lastRun !== '').sort((a, b) => b.lastRun.localeCompare(a.lastRun));
    const newest = ran[0];
    if (newest === undefined) return ok(`${statuses.length} jobs, none has run yet (queue prefix ${ctx.config.jobs.prefix})`, data);
    return ok(`${statuses.length} jobs, none failing; newest run ${newest.name} ${age(ctx.now - Date.parse(newest.lastRun))} ago`, data);
  },
};

/** Windows (days, months) a job reported owed and has not worked off since. */
export const owedCheck: Check = {
  name: 'owed-windows',
  group: 'jobs',
  timeoutMs: 15_000,
  errorFix: 'inferledger jobs list',
  run: async (ctx): Promise<CheckOutcome> => {
    const statuses = await ctx.jobStatuses();
    const owing = statuses.filter((s) => (s.owed ?? 0) > 0);
    const data = { owed: Object.fromEntries(owing.map((s) => [s.name, { owed: s.owed, at: s.owedAt }])) };
    const said = (s: JobStatus): string => `${s.name} ${s.owed ?? 0} (as of ${age(ctx.now - Date.parse(s.owedAt))} ago)`;
    const stale = owing.filter((s) => ctx.now - Date.parse(s.owedAt) > OWED_STALE_MS);
    if (stale.length > 0) {
      return warn(
        `owed and not worked off for over ${age(OWED_STALE_MS)}: ${some(stale.map(said))}`,
        `is \`inferledger run\` running? inferledger jobs list, then \`inferledger jobs run ${stale[0]?.name ?? '<job>'}\``,
        data,
      );
    }
    return ok(owing.length === 0 ? 'nothing owed' : `being worked off: ${some(owing.map(said))}`, data);
  },
};
