import { afterEach, describe, expect, it, vi } from 'vitest';
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
    expect(config.kafka).toMatchObject({ dlqTopic: 'bad-requests', batchRows: 20_000, batchAgeMs: 1000 });
    expect(config.service.collectorMetricsPort).toBe(9464);
    expect(problems(() => loadConfig({ env: { INFERLEDGER_METRICS_PORT: '70000' } })).join('\n')).toMatch(/service\.collectorMetricsPort \(from env INFERLEDGER_METRICS_PORT\)/);
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

describe('renamed keys', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('reads the old keys of a file as the new ones, with a warning naming both', () => {
    const file = writeTemp(tempDir(), 'old.json', JSON.stringify({
      jobs: { port: 9470, host: '0.0.0.0', prefix: 'p' },
      kafka: { metricsPort: 9464, metricsHost: '10.0.0.5', topic: 't' },
    }));
    const warnings: string[] = [];
    const config = loadConfig({ env: {}, file, onWarning: (w) => { warnings.push(w); } });
    expect(config.service).toMatchObject({ port: 9470, host: '0.0.0.0', collectorMetricsPort: 9464, collectorMetricsHost: '10.0.0.5' });
    expect(config.jobs).not.toHaveProperty('port');
    expect(config.kafka).not.toHaveProperty('metricsPort');
    expect(config.jobs.prefix).toBe('p');
    expect(warnings).toEqual([
      `jobs.port (config file ${file}) is deprecated: use service.port`,
      `jobs.host (config file ${file}) is deprecated: use service.host`,
      `kafka.metricsPort (config file ${file}) is deprecated: use service.collectorMetricsPort`,
      `kafka.metricsHost (config file ${file}) is deprecated: use service.collectorMetricsHost`,
    ]);
  });

  it('warns through process warnings when no one listens, and not at all for the new keys', () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const dir = tempDir();
    loadConfig({ env: {}, file: writeTemp(dir, 'new.json', JSON.stringify({ service: { port: 9470 } })) });
    expect(emitted).not.toHaveBeenCalled();
    loadConfig({ env: {}, file: writeTemp(dir, 'old.json', JSON.stringify({ jobs: { port: 9470 } })) });
    expect(emitted).toHaveBeenCalledTimes(1);
    expect(emitted.mock.calls[0]?.[0]).toMatch(/^jobs\.port \(config file .*\) is deprecated: use service\.port$/);
    expect(emitted.mock.calls[0]?.[1]).toMatchObject({ type: 'DeprecationWarning' });
  });

  it('refuses an old and a new key with different values, naming both; the same value only warns', () => {
    const dir = tempDir();
    const both = writeTemp(dir, 'both.json', JSON.stringify({ kafka: { metricsPort: 9464 }, service: { collectorMetricsPort: 9465 } }));
    const list = problems(() => loadConfig({ env: {}, file: both, onWarning: () => undefined }));
    expect(list).toEqual([`kafka.metricsPort and service.collectorMetricsPort (config file ${both}) are both set, to different values (9464 and 9465): keep only service.collectorMetricsPort`]);
    const same = writeTemp(dir, 'same.json', JSON.stringify({ jobs: { host: '0.0.0.0' }, service: { host: '0.0.0.0' } }));
    const warnings: string[] = [];
    expect(loadConfig({ env: {}, file: same, onWarning: (w) => { warnings.push(w); } }).service.host).toBe('0.0.0.0');
    expect(warnings).toHaveLength(1);
  });

  it('keeps the precedence: an old key in the file loses to the variable of the new key, which is no conflict', () => {
    const file = writeTemp(tempDir(), 'old.json', JSON.stringify({ jobs: { port: 9470 }, kafka: { metricsHost: '0.0.0.0' } }));
    const config = loadConfig({ env: { INFERLEDGER_SERVICE_PORT: '9471' }, file, onWarning: () => undefined });
    expect(config.service.port).toBe(9471);
    expect(config.service.collectorMetricsHost).toBe('0.0.0.0');
  });

  it('names the old key and its source when its value is wrong', () => {
    const file = writeTemp(tempDir(), 'old.json', JSON.stringify({ jobs: { port: 70_000 } }));
    expect(problems(() => loadConfig({ env: {}, file, onWarning: () => undefined }))[0]).toContain(`service.port (from config file ${file}, as jobs.port): `);
  });

  it('maps old keys given as overrides too (callers not yet moved)', () => {
    const warnings: string[] = [];
    const overrides = { jobs: { port: 0 }, kafka: { metricsPort: undefined } } as never;
    const config = loadConfig({ env: {}, overrides, onWarning: (w) => { warnings.push(w); } });
    expect(config.service.port).toBe(0);
    expect(config.service.collectorMetricsPort).toBeUndefined();
    expect(warnings).toEqual(['jobs.port (command line) is deprecated: use service.port']);
    expect(problems(() => loadConfig({ env: {}, overrides: { jobs: { port: -1 } } as never, onWarning: () => undefined }))[0]).toContain('service.port (from command line, as jobs.port): ');
  });

  it('reads users and scopes, and refuses each bad one by its field', () => {
    const hash = 'A'.repeat(64);
    const good = writeTemp(tempDir(), 'users.json', JSON.stringify({ access: { users: [
      { name: 'search', password_sha256_hex: hash, scope: { teams: ['search'] } },
      { name: 'finance', password_sha256_hex: hash, scope: 'all', limits: { concurrency: 4 } },
    ], sharedTables: ['coverage_daily'] } }));
    const config = loadConfig({ env: {}, file: good });
    expect(config.access.users.map((u) => [u.name, u.password_sha256_hex, u.scope])).toEqual([['search', 'a'.repeat(64), { teams: ['search'] }], ['finance', 'a'.repeat(64), 'all']]);
    expect(JSON.stringify(redactConfig(config))).not.toContain('a'.repeat(64));
    const bad = writeTemp(tempDir(), 'bad-users.json', JSON.stringify({
      service: { queryPassword: 'x' },
      queries: { maxTotalMemoryBytes: 1000, maxMemoryBytes: 1000 },
      access: { users: [
        { name: 'a', password_sha256_hex: 'secret', scope: { teams: ['x'] } },
        { name: 'b', password_sha256_hex: hash, scope: { teams: [], tenants: ['y'] } },
        { name: 'c', password_sha256_hex: hash, scope: 'all', limits: { maxMemoryBytes: 5000 } },
        { name: 'c', password_sha256_hex: hash, scope: 'all' },
      ] },
    }));
    expect(problems(() => loadConfig({ env: {}, file: bad })).join('\n')).toMatch(/access\.users\.0\.password_sha256_hex .*SHA-256[\s\S]*access\.users\.1\.scope .*"all"/);
    const twice = writeTemp(tempDir(), 'twice.json', JSON.stringify({ access: { users: [{ name: 'c', password_sha256_hex: hash, scope: 'all' }, { name: 'c', password_sha256_hex: hash, scope: 'all' }] } }));
    expect(problems(() => loadConfig({ env: {}, file: twice })).join()).toMatch(/access\.users .*user names must be unique/);
    const clash = writeTemp(tempDir(), 'clash.json', JSON.stringify({
      service: { queryPassword: 'x' },
      queries: { maxTotalMemoryBytes: 1000, maxMemoryBytes: 1000 },
      access: { users: [{ name: 'c', password_sha256_hex: hash, scope: 'all', limits: { maxMemoryBytes: 5000 } }] },
    }));
    expect(problems(() => loadConfig({ env: {}, file: clash }))).toEqual([
      `service.queryPassword (from config file ${clash}): set either service.queryPassword (one password, every row) or access.users (a password and a scope each), not both`,
      `access.users.0.limits.maxMemoryBytes (from config file ${clash}): must not exceed queries.maxTotalMemoryBytes (1000)`,
    ]);
  });
});
