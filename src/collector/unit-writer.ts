/**
 * Writing sealed units, the request collector's one path to storage: the
 * units' messages read into rows and dead letters (unit-rows.ts), dead
 * letters to Kafka, rows into the warehouse in one insert, then the commits.
 * A failed step is retried with backoff until it succeeds or shutdown gives
 * up, and a step that succeeded is never repeated, so a retry neither sends
 * a dead letter twice nor counts a row twice.
 */
import pRetry, { AbortError } from 'p-retry';
import { ParserFailure } from '../events/parser-pool.js';
import type { RequestBatchWriter } from '../request-writer/request-batch-writer.js';
import type { OutgoingMessage, StreamProducer } from '../kafka/stream.js';
import type { FailurePause } from './backpressure.js';
import type { CollectorLiveness } from './collector-health.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { CollectorStats } from './collector-options.js';
import { refusedRowLetter } from './dead-letters.js';
import type { OffsetCommits } from './offset-commits.js';
import type { PartitionStates, Unit } from './partition-state.js';
import type { UnitRows } from './unit-rows.js';

/** How far one write of sealed units got, so a retry does not repeat a step. */
interface WriteProgress {
  deadLettered: boolean;
  written: boolean;
  /** Dead letters of rows the insert refused, still to send. */
  refused: OutgoingMessage[];
  /** New rows the insert stored. */
  rows: number;
}

export interface UnitWriterOptions {
  topic: string;
  dlqTopic: string;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface UnitWriterDeps {
  producer: StreamProducer;
  unitRows: UnitRows;
  rows: RequestBatchWriter;
  partitions: PartitionStates;
  commits: OffsetCommits;
  pause: FailurePause;
  liveness: CollectorLiveness;
  stats: CollectorStats;
  metrics: CollectorMetrics;
  log: (line: string) => void;
  /** Aborted when shutdown gives up on writes still failing. */
  abandon: AbortSignal;
  /** Told after a write stored new rows, with how many (before their offsets are committed). */
  onRowsWritten?: ((rows: number) => void) | undefined;
  /** Told when a parser thread broke (a bug, not bad input): the collector stops for good. */
  fail: (err: Error) => void;
}

export class UnitWriter {
  constructor(
    private readonly options: UnitWriterOptions,
    private readonly deps: UnitWriterDeps,
  ) {}

  /** Dead letters, then rows, then the commits; failed steps retried until they succeed or shutdown gives up. Never rejects. */
  async deliver(sealed: readonly Unit[]): Promise<void> {
    const { deps } = this;
    const units = sealed.filter((unit) => {
      if (deps.partitions.owns(unit.state)) return true;
      // The partition moved to another member, which reads these messages again from the committed offset.
      deps.log(`collector: dropped ${unit.messages} unwritten message(s) of partition ${unit.partition}, now another member's`);
      return false;
    });
    for (const unit of sealed) {
      if (!units.includes(unit)) await deps.unitRows.discard(unit).catch((err: unknown) => { deps.log(`collector: dropping the stage of a dropped unit: ${(err as Error).message}`); });
    }
    if (units.length === 0) return;
    const progress: WriteProgress = { deadLettered: false, written: false, refused: [], rows: 0 };
    const partitions = units.map((u) => u.partition).join(', ');
    try {
      await pRetry(() => this.write(units, progress), {
        forever: true,
        minTimeout: this.options.retryMinMs,
        maxTimeout: this.options.retryMaxMs,
        randomize: true,
        signal: deps.abandon,
        onFailedAttempt: (err) => {
          deps.stats.writeFailures++;
          deps.metrics.writeFailures.inc();
          deps.liveness.writeFailed();
          deps.log(`collector: writing partition(s) ${partitions} failed (attempt ${err.attemptNumber}), retrying: ${err.message}`);
          deps.pause.pause();
        },
      });
    } catch (err) {
      // Only shutdown gives up; the units stay uncommitted and are consumed again later.
      deps.log(`collector: partition(s) ${partitions}: ${(err as Error).message}`);
      return;
    }
    deps.liveness.wrote();
    deps.pause.resume();
    if (progress.rows > 0) {
      try {
        deps.onRowsWritten?.(progress.rows);
      } catch (err) {
        deps.log(`collector: after-write hook failed: ${(err as Error).message}`);
      }
    }
    await deps.commits.written(units);
  }

  /** One attempt; steps that succeeded before are not repeated. Retrying the rows is safe: ids a failed attempt did store are found and skipped. */
  private async write(units: readonly Unit[], progress: WriteProgress): Promise<void> {
    const { deps } = this;
    if (deps.abandon.aborted) throw new AbortError('shutting down');
    for (const unit of units) {
      try {
        await deps.unitRows.prepare(unit);
      } catch (err) {
        if (!(err instanceof ParserFailure)) throw err;
        // Retrying cannot mend a broken parser thread; nothing of these units is committed.
        deps.fail(err);
        throw new AbortError(err.message);
      }
    }
    if (!progress.deadLettered) {
      const deadLetters = units.flatMap((u) => u.deadLetters);
      if (deadLetters.length > 0) await deps.producer.send(this.options.dlqTopic, deadLetters);
      progress.deadLettered = true;
      deps.stats.deadLettered += deadLetters.length;
      deps.metrics.deadLetters.inc(deadLetters.length);
    }
    if (!progress.written) {
      const stopTimer = deps.metrics.insertSeconds.startTimer();
      const result = await deps.rows.write(units.map((u) => u.batch));
      stopTimer();
      progress.written = true;
      progress.refused = result.refused.map((r) => refusedRowLetter(this.options.topic, (units[r.batch] as Unit).partition, r));
      progress.rows = result.written;
      deps.stats.written += result.written;
      deps.stats.duplicates += result.duplicates;
      deps.metrics.rowsWritten.inc(result.written);
      deps.metrics.duplicates.inc(result.duplicates);
      deps.metrics.batchRows.observe(units.reduce((n, u) => n + u.messages, 0));
    }
    if (progress.refused.length > 0) {
      // Stored rows are never inserted again on a retry: only these letters are re-sent.
      await deps.producer.send(this.options.dlqTopic, progress.refused);
      deps.stats.deadLettered += progress.refused.length;
      deps.metrics.deadLetters.inc(progress.refused.length);
      progress.refused = [];
    }
  }
}
