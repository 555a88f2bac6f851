/**
 * The topics inferledger reads and writes, created the same way by
 * `inferledger kafka setup`, the tests and the benchmarks. Production
 * clusters may create them by hand: these are the settings that matter.
 */
import type { StreamAdmin, StreamClient } from './stream.js';

export interface TopicSetup {
  topic: string;
  /** `<topic>.dlq` when empty. */
  dlqTopic: string;
  partitions: number;
}

/** Dead letters are kept long enough to be looked at and replayed: 30 days. */
const DLQ_RETENTION_MS = String(30 * 24 * 3600 * 1000);

export function dlqTopicOf(topic: string, dlqTopic = ''): string {
  return dlqTopic || `${topic}.dlq`;
}

export class MissingTopicError extends Error {
  override name = 'MissingTopicError';
}

/**
 * Refuse to produce to a topic the cluster does not have, with what to do
 * about it, instead of the client retrying its metadata for most of a minute
 * and then reporting "This server does not host this topic-partition".
 */
export async function requireTopic(admin: StreamAdmin, topic: string, brokers: readonly string[]): Promise<void> {
  if (await admin.topicExists(topic)) return;
  throw new MissingTopicError(
    `topic ${JSON.stringify(topic)} does not exist on ${brokers.join(',')}: create it and its dead-letter topic with \`inferledger kafka setup --topic ${topic}\` (or set KAFKA_TOPIC / --topic to the topic you meant)`,
  );
}

/** Create the request topic and its dead-letter topic unless they exist; says which were created. */
export async function setupTopics(admin: StreamAdmin, setup: TopicSetup): Promise<string[]> {
  const created: string[] = [];
  if (await admin.ensureTopic(setup.topic, setup.partitions)) created.push(setup.topic);
  const dlq = dlqTopicOf(setup.topic, setup.dlqTopic);
  if (await admin.ensureTopic(dlq, setup.partitions, { 'retention.ms': DLQ_RETENTION_MS })) created.push(dlq);
  return created;
}

/** Stop before any work when a topic a command needs is missing, saying how to create it. */
export async function requireTopics(client: StreamClient, topics: readonly string[], brokers: readonly string[]): Promise<void> {
  const admin = await client.admin();
  try {
    for (const topic of topics) await requireTopic(admin, topic, brokers);
  } finally {
    await admin.stop();
  }
}
