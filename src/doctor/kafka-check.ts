/**
 * Kafka: a broker answering at kafka.brokers, the request topic there, and
 * the collector group's lag on it (messages after its committed offsets,
 * as the collector's own lag gauge counts them).
 */
import { consumerLag } from '../collector/offset-commits.js';
import { kafkajsClient } from '../kafka/kafkajs-client.js';
import type { StreamAdmin } from '../kafka/stream.js';
import { count, fail, Finding, ok, reason, warn, type Check } from './check.js';

/** Messages the collector group may be behind before it is a warning. */
export const LAG_WARN_MESSAGES = 10_000;
/** Longest the Kafka check may take. */
export const KAFKA_TIMEOUT_MS = 15_000;

export const kafkaCheck: Check = {
  name: 'kafka',
  group: 'kafka',
  timeoutMs: KAFKA_TIMEOUT_MS,
  errorFix: 'start the broker, or set kafka.brokers (KAFKA_BROKERS)',
  run: async (ctx) => {
    const { brokers, topic, groupId, clientId } = ctx.config.kafka;
    const where = brokers.join(',');
    // The client's own log lines (connection errors, retries) are what this check reports: not printed.
    const client = kafkajsClient({ brokers, clientId, log: () => undefined });
    // Whether a broker is there at all, without waiting out the client's reconnects...
    try {
      await (await client.admin({ retries: 0 })).stop();
    } catch (err) {
      throw new Finding(`no broker answers at ${where}: ${reason(err)}`, 'start the broker, or set kafka.brokers (KAFKA_BROKERS)');
    }
    // ...then the questions, on the client's own retries (a group's coordinator can take a moment to be found).
    const admin: StreamAdmin = await client.admin();
    try {
      const cluster = await admin.describeCluster();
      const brokersSeen = `${cluster.brokers} broker${cluster.brokers === 1 ? '' : 's'}`;
      if (!await admin.topicExists(topic)) {
        return fail(`${where} answers (${brokersSeen}), but topic ${topic} does not exist`, 'inferledger kafka setup (or set kafka.topic, KAFKA_TOPIC)', { brokers: where, topic });
      }
      const [lag, group] = await Promise.all([consumerLag(admin, topic, groupId), admin.describeGroup(groupId)]);
      const total = lag.reduce((n, p) => n + p.lag, 0);
      const data = { brokers: where, cluster, topic, groupId, group, lag: total, partitions: lag.map((p) => ({ partition: p.partition, lag: p.lag })) };
      const said = `topic ${topic}: ${lag.length} partition${lag.length === 1 ? '' : 's'}, group ${groupId} ${group.state} with ${group.members} member${group.members === 1 ? '' : 's'}, lag ${count(total)} message${total === 1 ? '' : 's'}`;
      if (total > LAG_WARN_MESSAGES) {
        return warn(
          `${said} (over ${count(LAG_WARN_MESSAGES)})`,
          group.members === 0
            ? 'no collector consumes: start `inferledger run` (or `inferledger collect requests`)'
            : 'the collector falls behind: run more (`inferledger run --role collector`, up to one per partition); its /metrics show where the time goes',
          data,
        );
      }
      return ok(`${where} (${brokersSeen}): ${said}`, data);
    } finally {
      await admin.stop().catch(() => undefined);
    }
  },
};
