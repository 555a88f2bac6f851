/**
 * {@link StreamClient} over kafkajs. The only module that imports kafkajs.
 *
 * Offsets: auto-commit and auto-resolve are off. `markTaken` moves kafkajs'
 * fetch position (its "resolved" offset) so the next fetch goes on; only
 * `commit` moves the group's offset, and the collector calls it after the
 * warehouse acknowledged the rows.
 */
import pRetry from 'p-retry';
import { Kafka, logLevel, Partitioners, type Consumer, type ISocketFactory, type LogEntry } from 'kafkajs';
import type {
  AdminOptions,
  ConsumerEvents,
  ConsumerOptions,
  OutgoingMessage,
  PartitionOffsets,
  StreamAdmin,
  StreamClient,
  StreamConsumer,
  StreamProducer,
} from './stream.js';

export interface KafkajsClientOptions {
  brokers: readonly string[];
  clientId: string;
  /** Where kafkajs' warnings and errors go; nothing below WARN is printed. */
  log?: (line: string) => void;
  /** How connections are made (kafkajs' own by default); e.g. through a proxy, or cut at will in tests. */
  socketFactory?: ISocketFactory;
}

export function kafkajsClient(options: KafkajsClientOptions): StreamClient {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Reconnects on its own for a while; past this, the consumer restarts itself (retry.restartOnFailure).
  const RETRY = { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 };
  const connect = (retries = RETRY.retries): Kafka => new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    // One line per entry; kafkajs' default prints whole JSON objects.
    logCreator: () => ({ namespace, level, log: entry }: LogEntry) => {
      const { message, error } = entry as { message: string; error?: string };
      log(`kafka ${level === logLevel.ERROR ? 'error' : 'warn'}${namespace ? ` [${namespace}]` : ''}: ${message}${error ? `: ${error}` : ''}`);
    },
    retry: { ...RETRY, retries },
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  });
  const kafka = connect();

  return {
    consumer: (consumerOptions, events) => Promise.resolve(new KafkajsConsumer(kafka, consumerOptions, events ?? {})),
    producer: async () => {
      // The default (murmur2, Java-compatible) partitioner: a key lands where Java producers put it.
      const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      return {
        async send(topic: string, messages: readonly OutgoingMessage[]) {
          if (messages.length === 0) return;
          await producer.send({
            topic,
            acks: -1,
            messages: messages.map((m) => ({
              key: m.key,
              value: m.value,
              ...(m.headers ? { headers: m.headers } : {}),
              ...(m.partition === undefined ? {} : { partition: m.partition }),
            })),
          });
        },
        stop: () => producer.disconnect(),
      } satisfies StreamProducer;
    },
    admin: async (adminOptions: AdminOptions = {}) => {
      // Fewer retries than the client's own: a cluster of its own (kafkajs retries the brokers' connections per cluster).
      const { retries } = adminOptions;
      const admin = (retries === undefined ? kafka : connect(retries)).admin(retries === undefined ? {} : { retry: { ...RETRY, retries } });
      try {
        await admin.connect();
      } catch (err) {
        // A failed connect leaves nothing to stop, but kafkajs may still hold a socket it opened.
        await admin.disconnect().catch(() => undefined);
        throw err;
      }
      return {
        async topicExists(topic: string) {
          return (await admin.listTopics()).includes(topic);
        },
        async ensureTopic(topic: string, partitions: number, configs: Record<string, string> = {}) {
          const existing = await admin.listTopics();
          if (existing.includes(topic)) return false;
          let created: boolean;
          try {
            created = await admin.createTopics({
              waitForLeaders: true,
              topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
            });
          } catch (err) {
            // A topic just created in KRaft can read back as unknown for a moment, and kafkajs'
            // wait for its leaders gives up on that: the topic exists, its leaders are awaited below.
            if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
            created = true;
          }
          await pRetry(async () => {
            const [found] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
            if (!found || found.partitions.length < partitions || found.partitions.some((p) => p.leader < 0)) throw new Error(`topic "${topic}": its ${partitions} partitions have no leaders yet`);
          }, { retries: 20, minTimeout: 100, maxTimeout: 1000 });
          return created;
        },
        async topicOffsets(topic: string): Promise<PartitionOffsets[]> {
          const offsets = await retryRetriable(() => admin.fetchTopicOffsets(topic));
          return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
        },
        async groupOffsets(groupId: string, topic: string) {
          const [found] = await retryRetriable(() => admin.fetchOffsets({ groupId, topics: [topic] }));
          const out = new Map<number, string>();
          for (const p of found?.partitions ?? []) if (p.offset !== '-1') out.set(p.partition, p.offset);
          return out;
        },
        async describeGroup(groupId: string) {
          const { groups } = await retryRetriable(() => admin.describeGroups([groupId]));
          const group = groups.find((g) => g.groupId === groupId);
          return { state: group?.state ?? 'Unknown', members: group?.members.length ?? 0 };
        },
        async describeCluster() {
          const cluster = await retryRetriable(() => admin.describeCluster());
          return { brokers: cluster.brokers.length, controller: cluster.controller };
        },
        stop: () => admin.disconnect(),
      } satisfies StreamAdmin;
    },
  };
}

/**
 * kafkajs' admin does not retry everything it could: e.g. NOT_COORDINATOR
 * while a group's coordinator moves or loads. Errors it marks retriable are
 * retried here for a few seconds.
 */
function retryRetriable<T>(call: () => Promise<T>): Promise<T> {
  return pRetry(call, {
    retries: 8,
    minTimeout: 100,
    maxTimeout: 2000,
    shouldRetry: (err) => (err as { retriable?: boolean }).retriable === true,
  });
}

class KafkajsConsumer implements StreamConsumer {
  private readonly consumer: Consumer;

  constructor(
    kafka: Kafka,
    private readonly options: ConsumerOptions,
    events: ConsumerEvents,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxBytes: options.maxBytesPerPartition * 4,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    const names = this.consumer.events;
    this.consumer.on(names.GROUP_JOIN, (event) => {
      const assignment = event.payload.memberAssignment;
      events.onAssigned?.(Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions: [...partitions] })));
    });
    this.consumer.on(names.FETCH_START, () => events.onFetch?.());
    this.consumer.on(names.CRASH, (event) => {
      // A restarting consumer rejoins on its own; only a final crash is the caller's business.
      if (!event.payload.restart) events.onCrash?.(event.payload.error);
    });
  }

  async run(handle: Parameters<StreamConsumer['run']>[0]): Promise<void> {
    await this.consumer.connect();
    // A group without offsets starts at the earliest message: nothing produced before the first start is lost.
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently,
      eachBatch: async (payload) => {
        const { batch } = payload;
        if (batch.isEmpty() || payload.isStale()) return;
        await handle(
          {
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages, // kafkajs' messages already have the StreamMessage shape (timestamp and headers included)
          },
          {
            markTaken: (offset) => { payload.resolveOffset(offset); },
            heartbeat: () => payload.heartbeat(),
            isRunning: () => payload.isRunning() && !payload.isStale(),
          },
        );
      },
    });
  }

  async commit(topic: string, partition: number, next: string): Promise<void> {
    await this.consumer.commitOffsets([{ topic, partition, offset: next }]);
  }

  pause(topic: string, partitions?: number[]): void {
    this.consumer.pause([partitions ? { topic, partitions } : { topic }]);
  }

  resume(topic: string, partitions?: number[]): void {
    this.consumer.resume([partitions ? { topic, partitions } : { topic }]);
  }

  stop(): Promise<void> {
    return this.consumer.disconnect();
  }
}
