/** `collect billing|requests`, `produce requests`, `kafka setup`, `local-cost-explorer`: data from its sources. */
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../../config/config.js';
import type { StreamClient } from '../../kafka/stream.js';
import { DAY_MS, dayStart } from '../../util/time.js';
import { EXIT, isoInstant, nonNegativeInt, positiveInt, unique, type CommandContext } from '../context.js';

async function streamClient(config: Config, log: (line: string) => void): Promise<StreamClient> {
  const { kafkajsClient } = await import('../../kafka/kafkajs-client.js');
  return kafkajsClient({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, log });
}

export function registerSourceCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const collect = program.command('collect').description('pull data from its sources into the raw tables');
  collect
    .command('billing')
    .description('GPU cost from AWS Cost Explorer (GetCostAndUsage), whole UTC days; default window: the trailing aws.trailingDays')
    .option('--from <time>', 'ISO-8601 start day (inclusive)', isoInstant('--from'))
    .option('--to <time>', 'ISO-8601 end (exclusive); default: the end of today', isoInstant('--to'))
    .option('--refresh', 'pull final days again too (estimated days are always pulled again)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { from?: Date; to?: Date; refresh?: boolean; json?: boolean }) => {
      const config = await ctx.config();
      const to = opts.to ?? new Date(dayStart(Date.now()) + DAY_MS);
      const from = opts.from ?? new Date(to.getTime() - config.aws.trailingDays * DAY_MS);
      if (to.getTime() <= from.getTime()) throw new InvalidArgumentError('--to must be after --from');
      const [{ withCurrentWarehouse }, { collectBilling }] = await Promise.all([import('../../service/warehouse-access.js'), import('../../cost-explorer/collect-billing.js')]);
      const summary = await withCurrentWarehouse(config, io.err, (warehouse) => collectBilling(warehouse, config, { from, to, refresh: opts.refresh === true }, io.err));
      if (opts.json === true) {
        io.out(JSON.stringify(summary));
        return;
      }
      for (const a of summary.accounts) {
        io.out(
          `${a.account}: ${a.periods} periods, ${a.rows} rows written (${a.daysPulled} days new or restated, ${a.daysUnchanged} unchanged, ` +
            `${a.daysSkippedFinal} final and skipped), ${a.pages} pages, ${a.paidCalls} paid calls = $${a.costUsd}`,
        );
      }
    });

  collect
    .command('requests')
    .description('request events from the Kafka topic into inference_requests (consumer group; invalid messages to <topic>.dlq)')
    .option('--topic <name>', 'topic to consume (env KAFKA_TOPIC, default inference-requests)')
    .option('--group <id>', 'consumer group (env KAFKA_GROUP_ID, default inferledger-collector)')
    .option('--once', 'stop once caught up with the partition ends seen at start (backfills, tests)')
    .option('--metrics-port <n>', 'serve /metrics and /healthz on this port (0: any free port)', nonNegativeInt('--metrics-port'))
    .option('--metrics-host <address>', 'address the metrics endpoint listens on (default 127.0.0.1)')
    .option('--json', 'print the closing summary as JSON')
    .action(async (opts: { topic?: string; group?: string; once?: boolean; metricsPort?: number; metricsHost?: string; json?: boolean }) => {
      const config = await ctx.config({ overrides: { kafka: { topic: opts.topic, groupId: opts.group }, service: { collectorMetricsPort: opts.metricsPort, collectorMetricsHost: opts.metricsHost } } });
      const [{ withCurrentWarehouse }, { runCollector }, { dlqTopicOf, requireTopics }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../collector/run-collector.js'), import('../../kafka/topics.js'),
      ]);
      const client = await streamClient(config, io.err);
      const dlq = dlqTopicOf(config.kafka.topic, config.kafka.dlqTopic);
      await requireTopics(client, [config.kafka.topic, dlq], config.kafka.brokers);
      const run = await withCurrentWarehouse(config, io.err, (warehouse) => runCollector(config, warehouse, client, { once: opts.once === true, log: io.err }));
      const { stats } = run;
      if (opts.json === true) io.out(JSON.stringify({ ...stats, clean: run.clean, reason: run.reason }));
      else io.out(`${config.kafka.topic}: ${stats.messages} messages, ${stats.written} rows written, ${stats.duplicates} duplicate, ${stats.deadLettered} dead-lettered to ${dlq}, ${stats.commits} commits (${run.reason})`);
      if (!run.clean) ctx.setExitCode(EXIT.failed);
    });

  program
    .command('produce')
    .description('send data to Kafka, as the services that emit it would')
    .command('requests')
    .description('NDJSON request events (plain or gzip) to the topic, one message per line, keyed by request_id')
    .argument('<files...>', 'NDJSON files')
    .option('--topic <name>', 'topic (env KAFKA_TOPIC, default inference-requests)')
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: { topic?: string; json?: boolean }) => {
      const config = await ctx.config({ overrides: { kafka: { topic: opts.topic } } });
      const [{ produceRequestFiles }, { requireTopics }] = await Promise.all([import('../../kafka/produce-requests.js'), import('../../kafka/topics.js')]);
      const client = await streamClient(config, io.err);
      await requireTopics(client, [config.kafka.topic], config.kafka.brokers);
      const producer = await client.producer();
      try {
        const summary = await produceRequestFiles(producer, config.kafka.topic, unique(files));
        if (opts.json === true) io.out(JSON.stringify(summary));
        else io.out(`${config.kafka.topic}: ${summary.messages} messages (${summary.bytes} bytes) from ${summary.files} file(s)${summary.unreadable > 0 ? `, ${summary.unreadable} unreadable line(s) not sent` : ''}`);
      } finally {
        await producer.stop();
      }
    });

  program
    .command('kafka')
    .description('Kafka set-up')
    .command('setup')
    .description('create the request topic and its dead-letter topic unless they exist')
    .option('--topic <name>', 'topic (env KAFKA_TOPIC, default inference-requests)')
    .option('--partitions <n>', 'partitions of a new topic (default 6)', positiveInt('--partitions'))
    .action(async (opts: { topic?: string; partitions?: number }) => {
      const config = await ctx.config({ overrides: { kafka: { topic: opts.topic } } });
      const { setupTopics } = await import('../../kafka/topics.js');
      const admin = await (await streamClient(config, io.err)).admin();
      try {
        const created = await setupTopics(admin, { topic: config.kafka.topic, dlqTopic: config.kafka.dlqTopic, partitions: opts.partitions ?? 6 });
        io.out(created.length > 0 ? `created ${created.join(', ')}` : 'topics already exist');
      } finally {
        await admin.stop();
      }
    });

  program
    .command('local-cost-explorer')
    .description('serve a FOCUS CSV export through the Cost Explorer API on localhost, for trying `collect billing` without AWS')
    .requiredOption('--fixture <file>', 'hourly FOCUS CSV export to serve')
    .option('--port <n>', 'port (default 4599)', positiveInt('--port'))
    .option('--page-size <n>', 'groups per page', positiveInt('--page-size'))
    .action(async (opts: { fixture: string; port?: number; pageSize?: number }) => {
      const [{ LocalCostExplorer }, { costLinesFromFocus }] = await Promise.all([import('../../cost-explorer/local-endpoint.js'), import('../../cost-explorer/fixture.js')]);
      const endpoint = new LocalCostExplorer(costLinesFromFocus(opts.fixture), { pageSize: opts.pageSize ?? 500 });
      const url = await endpoint.listen(opts.port ?? 4599);
      io.out(`local Cost Explorer at ${url}: set AWS_ENDPOINT_URL_COST_EXPLORER=${url} (any AWS credentials are accepted); Ctrl-C stops it`);
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', resolveStop);
        process.once('SIGTERM', resolveStop);
      });
      await endpoint.close();
    });
}
