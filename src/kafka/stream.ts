/**
 * The narrow interface inferledger needs from a Kafka client. The collector
 * and the producer helper see only this, so the client library (kafkajs
 * today, in maintenance mode) can be swapped without touching them.
 */

/** Offsets are decimal strings: Kafka offsets are 64-bit. */
export type Offset = string;

export interface StreamMessage {
  offset: Offset;
  key: Buffer | null;
  /** null for a tombstone. */
  value: Buffer | null;
  /** Epoch ms as text, when the producer (or the broker) stamped the message. */
  timestamp?: string;
  /** The message's headers (dead letters carry their reason in one). */
  headers?: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;
}

/** Messages of one partition, in offset order, as one fetch returned them. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: readonly StreamMessage[];
  /** Offset the next produced message will get (the partition's end). */
  highWatermark: Offset;
}

/** What a batch handler may do while it holds a batch. */
export interface BatchControl {
  /** Tell the client that messages up to this offset were taken, so the next fetch starts after it. Not a commit. */
  markTaken(offset: Offset): void;
  /** Keep the group membership alive during a long wait; throws when the group is rebalancing. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping: finish quickly. */
  isRunning(): boolean;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface ConsumerEvents {
  /** The group (re)assigned partitions to this member. */
  onAssigned?: (assigned: readonly TopicPartitions[]) => void;
  /** The fetch loop went round once (alive, even when nothing arrived). */
  onFetch?: () => void;
  /** The client gave up after an error it could not recover from. */
  onCrash?: (error: Error) => void;
}

export interface StreamConsumer {
  /** Join the group and hand every non-empty partition batch to `handle` until stopped. */
  run(handle: (batch: PartitionBatch, control: BatchControl) => Promise<void>): Promise<void>;
  /** Commit: the group resumes this partition at `next` (the offset after the last one written). */
  commit(topic: string, partition: number, next: Offset): Promise<void>;
  pause(topic: string, partitions?: number[]): void;
  resume(topic: string, partitions?: number[]): void;
  /** Leave the group and close connections. */
  stop(): Promise<void>;
}

export interface OutgoingMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string>;
  partition?: number;
}

export interface StreamProducer {
  /** Send and wait until every in-sync replica has the messages. */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  stop(): Promise<void>;
}

export interface PartitionOffsets {
  partition: number;
  /** First offset still held. */
  low: Offset;
  /** Offset the next message will get. */
  high: Offset;
}

/** A consumer group as the broker describes it. */
export interface GroupDescription {
  /** Stable, Empty, PreparingRebalance, CompletingRebalance, Dead, or Unknown. */
  state: string;
  /** Members of the group now (collectors consuming). */
  members: number;
}

/** The cluster as the bootstrap broker describes it. */
export interface ClusterDescription {
  brokers: number;
  /** Node id of the controller; null when the cluster names none. */
  controller: number | null;
}

export interface AdminOptions {
  /**
   * Retries of a failed connection or request before giving up; the client's
   * own policy (several seconds of retries) when absent. 0: a quick answer
   * on whether the broker is there at all (e.g. `inferledger doctor`).
   */
  retries?: number;
}

export interface StreamAdmin {
  /** Whether the cluster has the topic (no waiting on metadata retries). */
  topicExists(topic: string): Promise<boolean>;
  /** Create the topic unless it exists; resolves true when it was created. */
  ensureTopic(topic: string, partitions: number, configs?: Record<string, string>): Promise<boolean>;
  topicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** The group's committed offset per partition; absent partitions have none. */
  groupOffsets(groupId: string, topic: string): Promise<Map<number, Offset>>;
  /** The group's state and members (Dead or Empty with 0 members when nobody consumes). */
  describeGroup(groupId: string): Promise<GroupDescription>;
  /** The brokers of the cluster. */
  describeCluster(): Promise<ClusterDescription>;
  stop(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topic: string;
  sessionTimeoutMs: number;
  /** Partition batches handled at once. */
  partitionsConcurrently: number;
  /** Most bytes one fetch returns per partition (a larger single message still comes through). */
  maxBytesPerPartition: number;
}

/** Where consumers, producers and admins come from: one per Kafka client library. */
export interface StreamClient {
  /** A consumer that has joined nothing yet; `run` joins the group. New groups start at the earliest offset. */
  consumer(options: ConsumerOptions, events?: ConsumerEvents): Promise<StreamConsumer>;
  producer(): Promise<StreamProducer>;
  /** An admin client, connected (rejects when no broker answers). */
  admin(options?: AdminOptions): Promise<StreamAdmin>;
}
