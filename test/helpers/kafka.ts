/**
 * Kafka for tests: the private broker global-setup started (or KAFKA_BROKERS),
 * a topic of its own per test, and readers that see what really is on a topic.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { inject } from 'vitest';
import { configSchema } from '../../src/config/config.js';
import type { CollectorOptions } from '../../src/collector/request-collector.js';
import { kafkajsClient, type KafkajsClientOptions } from '../../src/kafka/kafkajs-client.js';
import type { OutgoingMessage, StreamAdmin, StreamClient } from '../../src/kafka/stream.js';
import { setupTopics } from '../../src/kafka/topics.js';

export function brokers(): string[] {
  return inject('kafkaBrokers').split(',');
}

/** Client logs are kept for a failing test's report, not printed. */
export const kafkaLog: string[] = [];

export function testClient(extra: Partial<KafkajsClientOptions> = {}): StreamClient {
  return kafkajsClient({ brokers: brokers(), clientId: 'inferledger-test', log: (line) => { kafkaLog.push(line); }, ...extra });
}

export async function withAdmin<T>(work: (admin: StreamAdmin) => Promise<T>): Promise<T> {
  const admin = await testClient().admin();
  try {
    return await work(admin);
  } finally {
    await admin.stop();
  }
}

/** A new topic (and its .dlq) with a unique name. */
export async function freshTopic(partitions: number): Promise<string> {
  const topic = `requests-${randomUUID().slice(0, 8)}`;
  await withAdmin((admin) => setupTopics(admin, { topic, dlqTopic: '', partitions }));
  return topic;
}

export function uniqueGroup(): string {
  return `group-${randomUUID().slice(0, 8)}`;
}

/** Send messages in chunks, each acknowledged by the broker. */
export async function produce(topic: string, messages: readonly OutgoingMessage[], chunk = 5000): Promise<void> {
  const producer = await testClient().producer();
  try {
    for (let i = 0; i < messages.length; i += chunk) await producer.send(topic, messages.slice(i, i + chunk));
  } finally {
    await producer.stop();
  }
}

/** Collector settings: the configured defaults, with overrides. */
export function collectorOptions(topic: string, groupId: string, overrides: Partial<CollectorOptions> = {}): CollectorOptions {
  return { ...configSchema.shape.kafka.parse({ topic, groupId }), ...overrides };
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Everything on a topic now, read with a throwaway group. */
export async function readTopic(topic: string): Promise<ReadMessage[]> {
  const kafka = new Kafka({ clientId: 'inferledger-test-reader', brokers: brokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const out: ReadMessage[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: uniqueGroup(), maxBytesPerPartition: 16 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: ({ partition, message }) => {
        out.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers: headerText(message.headers) });
        if (out.length >= total) resolve();
        return Promise.resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}

function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name] = String(Array.isArray(value) ? value[0] : value);
  return out;
}

/** Wait for a condition with a deadline (no fixed sleeps in tests). */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
