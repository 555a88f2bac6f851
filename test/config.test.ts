import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig, redactUrl } from '../src/config/config.js';
import { tempDir, writeTemp } from './helpers/files.js';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has working defaults with nothing set', () => {
    const config = loadConfig({ env: {} });
    expect(config.warehouse.url).toBeUndefined();
    expect(config.warehouse).toMatchObject({ database: 'inferledger', dataDir: './.inferledger' });
    expect(config.billing.poolTagKey).toBe('inference-pool');
    expect(config.ingest.batchRows).toBe(20_000);
    expect(config.kafka.brokers).toEqual(['localhost:9092']);
  });

  it('reads the environment into real types', () => {
    const config = loadConfig({
      env: { CLICKHOUSE_URL: 'http://ch:8123', INFERLEDGER_BATCH_ROWS: '1000', KAFKA_BROKERS: 'a:9092, b:9093', INFERLEDGER_DATA_DIR: '/data' },
    });
    expect(config.warehouse.url).toBe('http://ch:8123');
    expect(config.ingest.batchRows).toBe(1000);
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.warehouse.dataDir).toBe('/data');
  });

  it('lists every problem at once, naming the variable that caused it', () => {
    const list = problems(() =>
      loadConfig({ env: { CLICKHOUSE_URL: 'ftp://x', INFERLEDGER_BATCH_ROWS: '-5', KAFKA_BROKERS: 'no-port', CLICKHOUSE_DATABASE: 'drop table' } }),
    );
    expect(list).toHaveLength(4);
    expect(list.join('\n')).toMatch(/warehouse\.url \(from env CLICKHOUSE_URL\)/);
    expect(list.join('\n')).toMatch(/ingest\.batchRows \(from env INFERLEDGER_BATCH_ROWS\)/);
    expect(list.join('\n')).toMatch(/kafka\.brokers\.0 \(from env KAFKA_BROKERS\): must be host:port/);
    expect(list.join('\n')).toMatch(/warehouse\.database .*plain identifier/);
  });

  it('reads a JSON file below the environment and refuses unknown keys', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'c.json', JSON.stringify({ billing: { poolTagKey: 'gpu-pool' }, ingest: { batchRows: 10 } }));
    const config = loadConfig({ env: { INFERLEDGER_BATCH_ROWS: '20' }, file });
    expect(config.billing.poolTagKey).toBe('gpu-pool');
    expect(config.ingest.batchRows).toBe(20);
    const bad = writeTemp(dir, 'bad.json', JSON.stringify({ ingest: { batchRowz: 1 } }));
    expect(problems(() => loadConfig({ env: {}, file: bad })).join()).toMatch(/batchRowz/);
    const broken = writeTemp(dir, 'broken.json', '{ nope');
    expect(problems(() => loadConfig({ env: {}, file: broken })).join()).toMatch(/broken\.json/);
  });

  it('reads the collector settings and refuses impossible ones', () => {
    const config = loadConfig({ env: { KAFKA_DLQ_TOPIC: 'bad-requests', INFERLEDGER_METRICS_PORT: '9464' } });
    expect(config.kafka).toMatchObject({ dlqTopic: 'bad-requests', metricsPort: 9464, batchRows: 20_000, batchAgeMs: 1000 });
    expect(problems(() => loadConfig({ env: { INFERLEDGER_METRICS_PORT: '70000' } })).join('\n')).toMatch(/kafka\.metricsPort \(from env INFERLEDGER_METRICS_PORT\)/);
    const file = writeTemp(tempDir(), 'config.json', JSON.stringify({ kafka: { retryMinMs: 5000, retryMaxMs: 100 } }));
    expect(problems(() => loadConfig({ env: {}, file }))).toEqual(['kafka.retryMinMs (from config file ' + file + '): retryMinMs must not exceed retryMaxMs']);
  });

  it('reads the parser thread count, unset meaning one less than the cores', () => {
    expect(loadConfig({ env: {} }).ingest.parserThreads).toBeUndefined();
    expect(loadConfig({ env: { INFERLEDGER_PARSER_THREADS: '3' } }).ingest.parserThreads).toBe(3);
    expect(problems(() => loadConfig({ env: { INFERLEDGER_PARSER_THREADS: '0' } })).join('\n')).toMatch(/ingest\.parserThreads \(from env INFERLEDGER_PARSER_THREADS\)/);
  });

  it('lets command-line values win', () => {
    const config = loadConfig({ env: { INFERLEDGER_DATA_DIR: '/env' }, overrides: { warehouse: { dataDir: '/flag' } } });
    expect(config.warehouse.dataDir).toBe('/flag');
  });

  it('never shows secrets', () => {
    const config = loadConfig({ env: { CLICKHOUSE_PASSWORD: 's3cret', REDIS_URL: 'redis://user:pw@host:6379' } });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toMatch(/s3cret|pw@/);
  });

  it('masks credentials in every URL it shows', () => {
    const config = loadConfig({
      env: {
        CLICKHOUSE_URL: 'https://analyst:ch-Pa55@clickhouse.example:8443/?password=qp-secret&database=x',
        REDIS_URL: 'rediss://:redis-Pa55@redis.example:6380/0',
        INFERLEDGER_CE_ENDPOINT: 'https://ce-user:ce-Pa55@ce.example/?X-Amz-Security-Token=tok-secret',
      },
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toMatch(/ch-Pa55|qp-secret|redis-Pa55|ce-Pa55|tok-secret|analyst/);
    const redacted = redactConfig(config);
    expect(redacted.warehouse.url).toBe('https://***@clickhouse.example:8443/?password=***&database=x');
    expect(redacted.redis.url).toBe('rediss://***@redis.example:6380/0');
    expect(redacted.aws.endpoint).toBe('https://***@ce.example/?X-Amz-Security-Token=***');
    expect(redactUrl('not a url //u:p@h?token=abc')).toBe('not a url //***@h?token=***');
  });
});

describe('attribution configuration', () => {
  it('defaults to effective cost split by GPU time', () => {
    expect(loadConfig({ env: {} }).attribution).toEqual({ costBasis: 'effective', weightBasis: 'gpu_ms', pools: {}, featureTeams: {}, modelTeams: {} });
  });

  it('reads per-pool settings and team mappings from the file, and names bad ones', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'a.json', JSON.stringify({
      attribution: { costBasis: 'billed', pools: { 'llm-h100': { weightBasis: 'tokens', gpusPerInstance: 8 } }, featureTeams: { chat: 'assistant' } },
    }));
    const config = loadConfig({ env: {}, file });
    expect(config.attribution.pools['llm-h100']).toEqual({ weightBasis: 'tokens', gpusPerInstance: 8 });
    expect(config.attribution.costBasis).toBe('billed');
    const bad = writeTemp(dir, 'b.json', JSON.stringify({ attribution: { pools: { p: { weightBasis: 'vibes', gpusPerInstance: 0 } } } }));
    const list = problems(() => loadConfig({ env: {}, file: bad }));
    expect(list.join('\n')).toMatch(/attribution\.pools\.p\.weightBasis/);
    expect(list.join('\n')).toMatch(/attribution\.pools\.p\.gpusPerInstance/);
    expect(problems(() => loadConfig({ env: { INFERLEDGER_COST_BASIS: 'list' } })).join()).toMatch(/INFERLEDGER_COST_BASIS/);
  });
});

describe('alerts configuration', () => {
  it('has documented defaults and names bad thresholds and webhooks', () => {
    const alerts = loadConfig({ env: {} }).alerts;
    expect(alerts).toMatchObject({ relativeIncrease: 0.25, minExtraDailyCost: 10, minRequests: 1000, baselineDays: 7, comparable: 'daytype', resolveBelow: 0.1, resolveAfterWindows: 2, webhooks: [] });
    const dir = tempDir();
    const bad = writeTemp(dir, 'alerts.json', JSON.stringify({
      alerts: { relativeIncrease: 0.2, resolveBelow: 0.3, webhooks: [{ name: 'oncall', url: 'ftp://hooks.example/x' }] },
    }));
    const list = problems(() => loadConfig({ env: {}, file: bad })).join('\n');
    expect(list).toMatch(/alerts\.webhooks\.0\.url/);
    const inverted = writeTemp(dir, 'inverted.json', JSON.stringify({ alerts: { relativeIncrease: 0.2, resolveBelow: 0.3 } }));
    expect(problems(() => loadConfig({ env: {}, file: inverted })).join('\n')).toMatch(/alerts\.resolveBelow .*: resolveBelow must be below relativeIncrease/);
  });

  it('refuses a team named like the report\'s idle or untagged line', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'teams.json', JSON.stringify({
      attribution: { pools: { 'gpu-a': { owner: '(Idle)' } }, featureTeams: { chat: ' (unallocated)' }, modelTeams: { bert: 'search' } },
    }));
    const list = problems(() => loadConfig({ env: {}, file }));
    expect(list).toHaveLength(2);
    expect(list.join('\n')).toMatch(/attribution\.pools\.gpu-a\.owner.*: "\(Idle\)" is reserved/);
    expect(list.join('\n')).toMatch(/attribution\.featureTeams\.chat.*: "\(unallocated\)" is reserved/);
  });
});
