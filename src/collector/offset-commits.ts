/**
 * Offset bookkeeping of the request collector: which offset of a partition
 * may be committed (only past messages whose rows the warehouse and whose
 * dead letters Kafka acknowledged, and only while the partition is ours),
 * committing it, and reading the group's committed offsets back for the lag
 * metric and `--once`. Kept in one place because exactly-once counting rests
 * on it: a crash before a commit replays, never skips.
 */
import type { StreamAdmin, StreamConsumer } from '../kafka/stream.js';
import { sleep } from '../util/time.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { CollectorStats } from './collector-options.js';
import type { PartitionState, PartitionStates, Unit } from './partition-state.js';

/** The offset to commit for a partition now, or undefined: nothing new is written, or the partition is not ours (its new owner commits; ours could move it backwards). */
export function offsetToCommit(state: PartitionState, owned: boolean): bigint | undefined {
  const next = state.written;
  if (next === undefined || (state.committed !== undefined && state.committed >= next)) return undefined;
  return owned ? next : undefined;
}

/** Units written: every offset up to each one's last message is written. */
export function markWritten(units: readonly Unit[]): void {
  for (const unit of units) {
    if (unit.lastOffset !== undefined) unit.state.written = BigInt(unit.lastOffset) + 1n;
  }
}

export class OffsetCommits {
  constructor(
    private readonly consumer: Pick<StreamConsumer, 'commit'>,
    private readonly topic: string,
    private readonly partitions: PartitionStates,
    private readonly stats: CollectorStats,
    private readonly metrics: CollectorMetrics,
    private readonly log: (line: string) => void,
  ) {}

  /** After a write: mark its units written, then commit each partition they came from. */
  async written(units: readonly Unit[]): Promise<void> {
    markWritten(units);
    for (const state of new Set(units.map((u) => u.state))) await this.commit(state);
  }

  /** Commit what is written of a partition; a failure is left for a retry (through the write queue, to keep commits in order). */
  async commit(state: PartitionState): Promise<void> {
    const next = offsetToCommit(state, this.partitions.owns(state));
    if (next === undefined) return;
    try {
      await this.consumer.commit(this.topic, state.partition, next.toString());
      state.committed = next;
      this.stats.commits++;
      this.metrics.commits.inc();
    } catch (err) {
      // The rows are stored: a replay before the retry succeeds finds their ids and skips them.
      this.log(`collector: commit of partition ${state.partition} at ${next} failed, will retry: ${(err as Error).message}`);
    }
  }
}

/** Messages after the group's committed offset, per partition (all of a partition's held messages when it has none). */
export async function consumerLag(admin: StreamAdmin, topic: string, groupId: string): Promise<{ topic: string; partition: number; lag: number }[]> {
  const [ends, committed] = await Promise.all([admin.topicOffsets(topic), admin.groupOffsets(groupId, topic)]);
  return ends.map((end) => {
    const from = committed.get(end.partition) ?? end.low;
    return { topic, partition: end.partition, lag: Number(BigInt(end.high) - BigInt(from)) };
  });
}

/**
 * Resolves when the group's committed offsets reached the partition ends
 * seen now (so a backfill stops at what existed when it began); throws the
 * crash once `crashed` reports one.
 */
export async function caughtUp(admin: StreamAdmin, topic: string, groupId: string, crashed: () => Error | undefined, pollMs = 200): Promise<void> {
  const targets = await admin.topicOffsets(topic);
  for (;;) {
    const error = crashed();
    if (error) throw error;
    const committed = await admin.groupOffsets(groupId, topic);
    const behind = targets.filter((t) => {
      const at = committed.get(t.partition);
      return at === undefined ? BigInt(t.high) > BigInt(t.low) : BigInt(at) < BigInt(t.high);
    });
    if (behind.length === 0) return;
    await sleep(pollMs);
  }
}
