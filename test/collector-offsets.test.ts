/**
 * The collector's offset bookkeeping on its own: which offset may be
 * committed, committing it through a real consumer group on the test broker,
 * a commit refused by the client, and the committed offsets read back (lag,
 * caught up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorMetrics } from '../src/collector/collector-metrics.js';
import { emptyStats } from '../src/collector/collector-options.js';
import { caughtUp, consumerLag, markWritten, OffsetCommits, offsetToCommit } from '../src/collector/offset-commits.js';
import { PartitionState, PartitionStates } from '../src/collector/partition-state.js';
import { RequestBatch } from '../src/request-writer/request-batch.js';
import type { StreamConsumer, TopicPartitions } from '../src/kafka/stream.js';
import { freshTopic, produce, testClient, uniqueGroup, until, withAdmin } from './helpers/kafka.js';

/** Empty batches, as the collector's writer makes them (a batch needs no warehouse until it is written). */
const newBatch = (): RequestBatch => new RequestBatch();

describe('offsetToCommit', () => {
  it('is the offset after the last written message, once, and only for an owned partition', () => {
    const state = new PartitionState(3, newBatch);
    expect(offsetToCommit(state, true)).toBeUndefined();
    state.written = 42n;
    expect(offsetToCommit(state, true)).toBe(42n);
    expect(offsetToCommit(state, false)).toBeUndefined();
    state.committed = 42n;
    expect(state.uncommitted).toBe(false);
    expect(offsetToCommit(state, true)).toBeUndefined();
    state.written = 50n;
    expect(state.uncommitted).toBe(true);
    expect(offsetToCommit(state, true)).toBe(50n);
    // A commit beyond what this member wrote (another member's) is never moved back.
    state.committed = 60n;
    expect(offsetToCommit(state, true)).toBeUndefined();
  });

  it('marks each unit written up to its last message, skipping empty ones', () => {
    const states = new PartitionStates(newBatch);
    const a = states.stateOf(0);
    const b = states.stateOf(1);
    a.open.lastOffset = '9007199254740993';
    const units = [a.reopen(), b.reopen()];
    markWritten(units);
    expect(a.written).toBe(9007199254740994n);
    expect(b.written).toBeUndefined();
  });
});

describe('committing through a consumer group', () => {
  let topic: string;
  let group: string;
  let consumer: StreamConsumer;
  const assignments: TopicPartitions[][] = [];

  beforeAll(async () => {
    topic = await freshTopic(2);
    group = uniqueGroup();
    await produce(topic, [
      ...['a', 'b', 'c', 'd'].map((value) => ({ key: null, value, partition: 0 })),
      ...['e', 'f', 'g'].map((value) => ({ key: null, value, partition: 1 })),
    ]);
    consumer = await testClient().consumer(
      { groupId: group, topic, sessionTimeoutMs: 6000, partitionsConcurrently: 1, maxBytesPerPartition: 1 << 20 },
      { onAssigned: (assigned) => { assignments.push([...assigned]); } },
    );
    await consumer.run((batch, control) => {
      control.markTaken((batch.messages[batch.messages.length - 1] as { offset: string }).offset);
      return Promise.resolve();
    });
    await until('both partitions assigned', () => (assignments.some((a) => a.some((t) => t.topic === topic && t.partitions.length === 2)) ? true : undefined));
  });

  afterAll(async () => {
    await consumer.stop();
  });

  it('commits what is written, skips a partition no longer ours, and reads the offsets back', async () => {
    const logs: string[] = [];
    const stats = emptyStats();
    const metrics = new CollectorMetrics(() => Promise.resolve([]));
    const partitions = new PartitionStates(newBatch);
    partitions.assign([0, 1]);
    const commits = new OffsetCommits(consumer, topic, partitions, stats, metrics, (line) => { logs.push(line); });

    const first = partitions.stateOf(0);
    first.open.lastOffset = '3';
    await commits.written([first.reopen()]);
    expect(first.committed).toBe(4n);
    expect(stats.commits).toBe(1);
    expect(await withAdmin((admin) => admin.groupOffsets(group, topic))).toEqual(new Map([[0, '4']]));
    expect(await withAdmin((admin) => consumerLag(admin, topic, group))).toEqual([
      { topic, partition: 0, lag: 0 },
      { topic, partition: 1, lag: 3 },
    ]);
    // Not caught up while partition 1 has nothing committed; a crash ends the wait with its error.
    await expect(withAdmin((admin) => caughtUp(admin, topic, group, () => new Error('consumer gone'), 10))).rejects.toThrow('consumer gone');

    // Partition 1 moved away after its unit was written: its new owner commits, not us.
    const lost = partitions.stateOf(1);
    lost.written = 3n;
    expect(partitions.assign([0]).map((s) => s.partition)).toEqual([1]);
    await commits.commit(lost);
    expect(lost.committed).toBeUndefined();
    expect(stats.commits).toBe(1);
    expect(await withAdmin((admin) => admin.groupOffsets(group, topic))).toEqual(new Map([[0, '4']]));

    // Back again: a fresh state, written and committed.
    partitions.assign([0, 1]);
    const back = partitions.stateOf(1);
    expect(back).not.toBe(lost);
    back.open.lastOffset = '2';
    await commits.written([back.reopen()]);
    expect(stats.commits).toBe(2);
    expect(await withAdmin((admin) => admin.groupOffsets(group, topic))).toEqual(new Map([[0, '4'], [1, '3']]));
    await withAdmin((admin) => caughtUp(admin, topic, group, () => undefined, 10));
    expect(await metrics.commits.get()).toMatchObject({ values: [{ value: 2 }] });
    expect(logs).toEqual([]);
  });

  it('leaves a refused commit for a retry, with a log line saying so', async () => {
    const logs: string[] = [];
    const stats = emptyStats();
    const partitions = new PartitionStates(newBatch);
    partitions.assign([0]);
    // A consumer that never joined the group: the client refuses its commits.
    const idle = await testClient().consumer({ groupId: uniqueGroup(), topic, sessionTimeoutMs: 6000, partitionsConcurrently: 1, maxBytesPerPartition: 1 << 20 });
    const commits = new OffsetCommits(idle, topic, partitions, stats, new CollectorMetrics(() => Promise.resolve([])), (line) => { logs.push(line); });
    const state = partitions.stateOf(0);
    state.open.lastOffset = '1';
    await commits.written([state.reopen()]);
    expect(state.committed).toBeUndefined();
    expect(state.uncommitted).toBe(true);
    expect(stats.commits).toBe(0);
    expect(logs).toEqual(['collector: commit of partition 0 at 2 failed, will retry: Consumer group was not initialized, consumer#run must be called first']);
    await idle.stop();
  });
});
