/** `dlq replay`: dead letters repaired and stored once. */
import type { Command } from 'commander';
import { fieldSet, isoInstant, type CommandContext } from '../context.js';

interface ReplayFlags {
  topic?: string;
  group?: string;
  since?: Date;
  reason?: string;
  set?: Record<string, unknown>;
  dryRun?: boolean;
  json?: boolean;
}

export function registerDlqCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('dlq')
    .description('the dead-letter topic of the request collector')
    .command('replay')
    .description('judge the dead letters again with today\'s rules (after --set repairs) and store the now-valid ones once; the rest stay in the topic and are reported by reason')
    .option('--topic <name>', 'request topic whose dead letters are read (env KAFKA_TOPIC, default inference-requests; its DLQ: KAFKA_DLQ_TOPIC or <topic>.dlq)')
    .option('--group <id>', 'consumer group of the replay, which resumes where it stopped (default <kafka.groupId>-dlq-replay; a new group reads the topic again)')
    .option('--since <time>', 'only dead letters sent at or after this ISO-8601 instant', isoInstant('--since'))
    .option('--reason <text>', 'only dead letters whose reason contains this text')
    .option('--set <field=value>', 'set a top-level event field before judging, repeatable; the value as JSON when it parses, else as text', fieldSet)
    .option('--dry-run', 'store nothing and commit nothing: report what a replay would do')
    .option('--json', 'print the report as JSON')
    .action(async (opts: ReplayFlags) => {
      const config = await ctx.config({ overrides: { kafka: { topic: opts.topic } } });
      const [{ withCurrentWarehouse }, { replayDeadLetters }, { formatReplayReport }, { kafkajsClient }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../replay/dlq-replay.js'), import('../../replay/replay-report.js'), import('../../kafka/kafkajs-client.js'),
      ]);
      const { kafka } = config;
      const client = kafkajsClient({ brokers: kafka.brokers, clientId: kafka.clientId, log: io.err });
      const report = await withCurrentWarehouse(config, io.err, (warehouse) => replayDeadLetters({
        topic: kafka.topic,
        dlqTopic: kafka.dlqTopic,
        groupId: opts.group ?? `${kafka.groupId}-dlq-replay`,
        since: opts.since,
        reason: opts.reason,
        sets: opts.set ?? {},
        dryRun: opts.dryRun === true,
        batchRows: kafka.batchRows,
        batchBytes: kafka.batchBytes,
        maxMessageBytes: kafka.maxMessageBytes,
        sessionTimeoutMs: kafka.sessionTimeoutMs,
        duplicateHorizonHours: config.ingest.duplicateHorizonHours,
      }, { warehouse, client, log: io.err }));
      if (opts.json === true) io.out(JSON.stringify(report));
      else for (const line of formatReplayReport(report)) io.out(line);
      if (report.read === 0 && opts.json !== true) io.out(`nothing to read: group ${report.groupId} is at the end of ${report.dlqTopic}; a new --group reads it again`);
    });
}
