/**
 * Health of the request collector: when its loops last showed life (a fetch,
 * a write) and since when writes fail, and the /healthz verdict built from
 * them. Apart from the loops themselves so the verdict is a plain function of
 * what they recorded, and "stuck" means the same wherever it is asked.
 */
import type { Health } from './collector-metrics.js';
import type { CollectorStats } from './collector-options.js';

/** Signs of life, stamped by the fetch loop and the writes. */
export class CollectorLiveness {
  lastFetchAt = Date.now();
  lastWriteAt = Date.now();
  /** When the current run of failed write attempts began; undefined while writes succeed. */
  failingSince: number | undefined;

  fetched(): void {
    this.lastFetchAt = Date.now();
  }

  writeFailed(): void {
    this.failingSince ??= Date.now();
  }

  wrote(): void {
    this.lastWriteAt = Date.now();
    this.failingSince = undefined;
  }
}

export interface HealthInputs {
  /** The error that ended consumption, if one did. */
  crashed: Error | undefined;
  liveness: Readonly<CollectorLiveness>;
  /** Writes and commits queued and not done. */
  queued: number;
  assigned: number[];
  stats: CollectorStats;
  /** Silence longer than this, of the fetch loop or of writes with some queued, is stuck. */
  stuckAfterMs: number;
}

export function collectorHealth(inputs: HealthInputs, now = Date.now()): Health {
  const { crashed, liveness, queued, stuckAfterMs } = inputs;
  const problems: string[] = [];
  if (crashed) problems.push(`consumer crashed: ${crashed.message}`);
  if (now - liveness.lastFetchAt > stuckAfterMs) problems.push(`no fetch for ${now - liveness.lastFetchAt} ms`);
  if (queued > 0 && now - liveness.lastWriteAt > stuckAfterMs) problems.push(`no batch written for ${now - liveness.lastWriteAt} ms (${queued} waiting)`);
  return {
    ok: problems.length === 0,
    detail: {
      problems,
      assigned: inputs.assigned,
      queuedBatches: queued,
      failingForMs: liveness.failingSince === undefined ? 0 : now - liveness.failingSince,
      ...inputs.stats,
    },
  };
}
