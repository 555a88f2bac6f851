/**
 * Tables a process stages rows in for a moment (a Parquet import's file, a
 * unit of request lines the engine parses), each named by its kind's prefix
 * and a random suffix. Each is dropped when its work is done; a process
 * killed meanwhile leaves its tables behind, so the next one of the kind
 * first drops those nobody can still be using.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { sqlFile } from './sql-files.js';
import type { Warehouse } from './warehouse.js';

/**
 * On a ClickHouse server, how old (by its creation time, on the server's
 * clock) another process's stage table must be before it counts as left
 * behind. Processes on other machines may be running; a stage lives minutes.
 */
export const STALE_STAGE_SECONDS = 24 * 3600;

export interface StaleStageOptions {
  /**
   * Whether this process is the only one that can use the warehouse, so that
   * any stage table it did not claim is stale. Default: true for the embedded
   * warehouse (one process holds its data directory), false for a server.
   */
  exclusive?: boolean;
  /** When not exclusive, the age past which a stage table is stale. Default {@link STALE_STAGE_SECONDS}. */
  staleAfterSeconds?: number;
}

/** The stage tables of one kind, by their name prefix. */
export class StageTables {
  /** Tables claimed by this process and not yet dropped: never stale. */
  private readonly live = new Set<string>();

  constructor(readonly prefix: string) {}

  /** A new stage table name, held as this process's until {@link drop}. */
  claim(): string {
    const name = `${this.prefix}${randomUUID().replaceAll('-', '')}`;
    this.live.add(name);
    return name;
  }

  /** Whether `name` is one of this process's stage tables, not yet dropped. */
  isLive(name: string): boolean {
    return this.live.has(name);
  }

  /** Drop stage tables this process claimed (those never created are no error). */
  async drop(warehouse: Warehouse, names: readonly string[]): Promise<void> {
    try {
      for (const name of names) await warehouse.command('DROP TABLE IF EXISTS {t:Identifier}', { t: name });
    } finally {
      for (const name of names) this.live.delete(name);
    }
  }

  /** Drop the stage tables of processes that ended without dropping them; returns their names. */
  async dropStale(warehouse: Warehouse, options: StaleStageOptions = {}): Promise<string[]> {
    const stale = await warehouse.query(
      sqlFile('queries/stale-stage-tables'),
      {
        db: warehouse.database,
        prefix: this.prefix,
        live: [...this.live],
        exclusive: (options.exclusive ?? warehouse.backend === 'chdb') ? 1 : 0,
        stale_after_seconds: options.staleAfterSeconds ?? STALE_STAGE_SECONDS,
      },
      z.object({ name: z.string() }),
    );
    // Another process may drop the same table first: IF EXISTS.
    for (const { name } of stale) await warehouse.command('DROP TABLE IF EXISTS {t:Identifier}', { t: name });
    return stale.map((s) => s.name);
  }
}
