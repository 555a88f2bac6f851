/**
 * Backpressure of the request collector: how much it holds in memory and
 * when consumption waits. A unit is sealed by rows, bytes or age; a partition
 * has at most one unit in flight and a fetch's worth of messages waiting for
 * room in its open unit before its fetch is held; a failing write pauses the
 * whole topic.
 * Memory stays bounded whatever the broker hands over or the warehouse does.
 */
import type { BatchControl, StreamConsumer } from '../kafka/stream.js';
import { sleep } from '../util/time.js';
import type { CollectorMetrics } from './collector-metrics.js';
import type { PartitionState, Unit } from './partition-state.js';

/**
 * Most bytes one fetch brings per partition: a batch's worth, at most 1 MiB.
 * kafkajs decodes a whole fetch into objects at once, and a message's value
 * holds its fetch's buffer until the value is copied into a unit: larger
 * fetches only held more memory (bench/kafka-ingest: 4 MiB, ~70 MB more at
 * the same speed).
 */
export function fetchBytesPerPartition(batchBytes: number): number {
  return Math.min(batchBytes, 1024 * 1024);
}

export interface UnitLimits {
  batchRows: number;
  batchBytes: number;
  batchAgeMs: number;
}

/** Whether a unit holds a batch's worth of messages or bytes of values. */
export function isFull(unit: Unit, limits: UnitLimits): boolean {
  return unit.messages >= limits.batchRows || unit.taken.bytes >= limits.batchBytes;
}

/** Whether a non-empty unit is past the age limit at `now`. */
export function isAged(unit: Unit, limits: UnitLimits, now: number): boolean {
  return unit.messages > 0 && now - unit.openedAt >= limits.batchAgeMs;
}

/** How often aged units are looked for: twice per age limit, between 50 ms and 1 s. */
export function ageCheckMs(batchAgeMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(batchAgeMs / 2)));
}

/** How often a held fetch heartbeats: five times per session timeout, at most once a second. */
export function heartbeatMs(sessionTimeoutMs: number): number {
  return Math.max(1000, Math.floor(sessionTimeoutMs / 5));
}

/** Wait until the partition's previous unit is written; false when stopping. */
export async function waitForRoom(state: PartitionState, stopping: () => boolean): Promise<boolean> {
  while (state.inFlight !== undefined) {
    await state.inFlight;
    if (stopping()) return false;
  }
  return true;
}

/**
 * Hold the fetch while the partition has more than a fetch's worth of bytes
 * waiting for room in a unit, heartbeating meanwhile: waiting messages hold
 * their fetches' buffers, and a unit fills from one fetch at a time anyway.
 */
export async function waitForBacklog(state: PartitionState, control: BatchControl, limits: { batchBytes: number; sessionTimeoutMs: number }, stopping: () => boolean): Promise<void> {
  const every = heartbeatMs(limits.sessionTimeoutMs);
  const most = fetchBytesPerPartition(limits.batchBytes);
  while (state.backlogBytes > most) {
    const chain = state.chain;
    await Promise.race([chain, sleep(every)]);
    if (stopping() || !control.isRunning()) return;
    // Throws while the group rebalances; kafkajs then rejoins and redelivers from the committed offsets.
    if (state.backlogBytes > most) await control.heartbeat();
  }
}

/**
 * Consumption paused while writes fail. The warehouse is shared by every
 * partition: all of them wait, none runs ahead of its commit.
 */
export class FailurePause {
  private paused = false;

  constructor(
    private readonly consumer: Pick<StreamConsumer, 'pause' | 'resume'>,
    private readonly topic: string,
    private readonly metrics: CollectorMetrics,
    private readonly log: (line: string) => void,
    /** Once stopping, consumption stays paused. */
    private readonly stopping: () => boolean,
  ) {}

  get active(): boolean {
    return this.paused;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.metrics.paused.set(1);
    this.consumer.pause(this.topic);
  }

  resume(): void {
    if (!this.paused || this.stopping()) return;
    this.paused = false;
    this.metrics.paused.set(0);
    this.consumer.resume(this.topic);
    this.log('collector: writes succeed again; consumption resumed');
  }
}
