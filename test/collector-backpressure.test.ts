/**
 * The collector's limits on their own: fetch size, when a unit is full or
 * aged, how often it looks and heartbeats, waiting for a partition's unit in
 * flight, and pausing the topic while writes fail (on a real consumer group).
 */
import { describe, expect, it } from 'vitest';
import { ageCheckMs, FailurePause, fetchBytesPerPartition, heartbeatMs, isAged, isFull, waitForBacklog, waitForRoom } from '../src/collector/backpressure.js';
import { CollectorMetrics } from '../src/collector/collector-metrics.js';
import { PartitionState } from '../src/collector/partition-state.js';
import { RequestBatch } from '../src/request-writer/request-batch.js';
import type { BatchControl, TopicPartitions } from '../src/kafka/stream.js';
import { freshTopic, produce, testClient, uniqueGroup, until } from './helpers/kafka.js';

/** Empty batches, as the collector's writer makes them (a batch needs no warehouse until it is written). */
const newBatch = (): RequestBatch => new RequestBatch();

describe('limits', () => {
  it('fetches a batch of bytes per partition, at most 1 MiB', () => {
    expect(fetchBytesPerPartition(500_000)).toBe(500_000);
    expect(fetchBytesPerPartition(1024 * 1024)).toBe(1_048_576);
    expect(fetchBytesPerPartition(64 * 1024 * 1024)).toBe(1_048_576);
  });

  it('calls a unit full at the row limit or the byte limit', () => {
    const unit = new PartitionState(0, newBatch).open;
    const limits = { batchRows: 3, batchBytes: 1, batchAgeMs: 1000 };
    unit.messages = 2;
    expect(isFull(unit, limits)).toBe(false);
    unit.messages = 3;
    expect(isFull(unit, limits)).toBe(true);
    // An empty unit holds 0 bytes: full only when the byte limit is 0.
    unit.messages = 0;
    expect(isFull(unit, { ...limits, batchBytes: 0 })).toBe(true);
    // Bytes are the values taken, each with its line end.
    unit.taken.take([{ offset: '7', key: null, value: Buffer.from('{"a":1}') }], 0, 1, 1024);
    unit.messages = 1;
    expect(isFull(unit, { ...limits, batchBytes: 9 })).toBe(false);
    expect(isFull(unit, { ...limits, batchBytes: 8 })).toBe(true);
  });

  it('calls a non-empty unit aged once its first message is batchAgeMs old', () => {
    const unit = new PartitionState(0, newBatch).open;
    const limits = { batchRows: 3, batchBytes: 1 << 20, batchAgeMs: 1000 };
    unit.openedAt = 10_000;
    expect(isAged(unit, limits, 20_000)).toBe(false); // empty
    unit.messages = 1;
    expect(isAged(unit, limits, 10_999)).toBe(false);
    expect(isAged(unit, limits, 11_000)).toBe(true);
  });

  it('looks for aged units twice per age limit, between 50 ms and 1 s, and heartbeats five times per session', () => {
    expect([10, 100, 101, 1000, 2000, 5000].map(ageCheckMs)).toEqual([50, 50, 50, 500, 1000, 1000]);
    expect([3000, 6000, 30_000, 45_001].map(heartbeatMs)).toEqual([1000, 1200, 6000, 9000]);
  });
});

describe('waitForRoom', () => {
  it('waits for the unit in flight, and for the one queued after it', async () => {
    const state = new PartitionState(0, newBatch);
    expect(await waitForRoom(state, () => false)).toBe(true);
    const order: string[] = [];
    let startSecond = (): void => undefined;
    const second = new Promise<void>((resolve) => { startSecond = resolve; }).then(() => { order.push('second'); state.inFlight = undefined; });
    state.inFlight = Promise.resolve().then(() => { order.push('first'); state.inFlight = second; startSecond(); });
    expect(await waitForRoom(state, () => false)).toBe(true);
    order.push('room');
    expect(order).toEqual(['first', 'second', 'room']);
  });

  it('gives up once stopping', async () => {
    const state = new PartitionState(0, newBatch);
    state.inFlight = Promise.resolve();
    expect(await waitForRoom(state, () => true)).toBe(false);
  });
});

describe('waitForBacklog', () => {
  const control = { isRunning: () => true, heartbeat: () => Promise.resolve(), markTaken: () => undefined } as unknown as BatchControl;
  const limits = { batchBytes: 16 * 1024 * 1024, sessionTimeoutMs: 30_000 };

  it('holds a fetch while more than a fetch\'s worth of bytes waits for room, and lets it go once no more does', async () => {
    const state = new PartitionState(0, newBatch);
    state.backlogBytes = fetchBytesPerPartition(limits.batchBytes) + 1;
    let taken = (): void => undefined;
    state.chain = new Promise<void>((resolve) => { taken = resolve; });
    let held = true;
    const waiting = waitForBacklog(state, control, limits, () => false).then(() => { held = false; });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(held).toBe(true);
    state.backlogBytes = fetchBytesPerPartition(limits.batchBytes);
    taken();
    await waiting;
    expect(held).toBe(false);
  });

  it('does not hold a fetch with a fetch\'s worth or less waiting', async () => {
    const state = new PartitionState(0, newBatch);
    state.backlogBytes = fetchBytesPerPartition(limits.batchBytes);
    state.chain = new Promise<void>(() => undefined);
    await waitForBacklog(state, control, limits, () => false);
  });
});

describe('FailurePause', () => {
  it('pauses the topic once while writes fail and resumes once they succeed, unless stopping', async () => {
    const topic = await freshTopic(1);
    const assigned: TopicPartitions[][] = [];
    const consumer = await testClient().consumer(
      { groupId: uniqueGroup(), topic, sessionTimeoutMs: 6000, partitionsConcurrently: 1, maxBytesPerPartition: 1 << 20 },
      { onAssigned: (a) => { assigned.push([...a]); } },
    );
    const seen: string[] = [];
    await consumer.run((batch, control) => {
      for (const m of batch.messages) seen.push(m.value?.toString() ?? '');
      control.markTaken((batch.messages[batch.messages.length - 1] as { offset: string }).offset);
      return Promise.resolve();
    });
    try {
      await until('partition assigned', () => (assigned.length > 0 ? true : undefined));
      const metrics = new CollectorMetrics(() => Promise.resolve([]));
      const logs: string[] = [];
      let stopping = false;
      const pause = new FailurePause(consumer, topic, metrics, (line) => { logs.push(line); }, () => stopping);
      const paused = async (): Promise<number | undefined> => (await metrics.paused.get()).values[0]?.value;

      pause.resume(); // not paused: nothing to do
      expect(logs).toEqual([]);
      pause.pause();
      pause.pause();
      expect(pause.active).toBe(true);
      expect(await paused()).toBe(1);
      stopping = true;
      pause.resume(); // stopping: stays paused
      expect(pause.active).toBe(true);
      stopping = false;
      pause.resume();
      pause.resume();
      expect(pause.active).toBe(false);
      expect(await paused()).toBe(0);
      expect(logs).toEqual(['collector: writes succeed again; consumption resumed']);
      // Consuming again after the resume.
      await produce(topic, [{ key: null, value: 'after' }]);
      await until('message after resume', () => (seen.includes('after') ? true : undefined));
    } finally {
      await consumer.stop();
    }
  });
});
