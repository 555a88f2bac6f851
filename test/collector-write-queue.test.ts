/**
 * The collector's write queue on its own: writes and commits in one order,
 * units sealed during a write joined into the next one, and each
 * partition's unit in flight tracked until its task is done.
 */
import { expect, it } from 'vitest';
import { PartitionStates } from '../src/collector/partition-state.js';
import { WriteQueue } from '../src/collector/write-queue.js';
import { RequestBatch } from '../src/request-writer/request-batch.js';

/** Empty batches, as the collector's writer makes them (a batch needs no warehouse until it is written). */
const newBatch = (): RequestBatch => new RequestBatch();

it('joins units sealed during a write into the next write and keeps commits behind the writes queued before them', async () => {
  const partitions = new PartitionStates(newBatch);
  const [a, b, c] = [partitions.stateOf(0), partitions.stateOf(1), partitions.stateOf(2)];
  const order: string[] = [];
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const queue = new WriteQueue(async (units) => {
    order.push(`write ${units.map((u) => `${u.partition}:${u.messages}`).join(',')}`);
    if (order.length === 1) await gate;
  });

  a.open.messages = 5;
  const sealedA = a.open;
  queue.seal(a);
  expect(a.open).not.toBe(sealedA);
  expect(a.open.messages).toBe(0);
  expect(queue.queued).toBe(1);
  await new Promise((resolve) => setImmediate(resolve));
  expect(order).toEqual(['write 0:5']);

  // Sealed while the first write runs: one write for both.
  b.open.messages = 2;
  c.open.messages = 3;
  queue.seal(b);
  queue.seal(c);
  expect(b.inFlight).toBeDefined();
  expect(b.inFlight).toBe(c.inFlight);
  const writeOfA = a.inFlight;
  queue.queueFor(a, () => { order.push('commit 0'); return Promise.resolve(); });
  expect(a.inFlight).not.toBe(writeOfA);
  expect(queue.queued).toBe(4);

  release();
  await queue.drained();
  expect(order).toEqual(['write 0:5', 'write 1:2,2:3', 'commit 0']);
  await new Promise((resolve) => setImmediate(resolve));
  expect(queue.queued).toBe(0);
  expect([a.inFlight, b.inFlight, c.inFlight]).toEqual([undefined, undefined, undefined]);
});
