/**
 * The configuration reference: docs/configuration.md and docs/config.schema.json
 * are what src/config/config-reference.ts generates from the schema
 * (UPDATE_GENERATED=1 rewrites them), every field is described, the JSON
 * Schema accepts a real config file and refuses wrong ones as loadConfig
 * does, and loadConfig ignores the file's "$schema".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configReferenceMarkdown } from '../src/config/config-reference.js';
import { ConfigError, configSchema, ENV_VARS, loadConfig, RENAMED_KEYS } from '../src/config/config.js';
import { tempDir, writeTemp } from './helpers/files.js';

const ROOT = resolve(import.meta.dirname, '..');
const PAGE = join(ROOT, 'docs', 'configuration.md');
const SCHEMA = join(ROOT, 'docs', 'config.schema.json');
const BEGIN = /<!-- reference: generated from [^\n]*-->\n/;
const END = '<!-- end of reference -->';
const update = process.env['UPDATE_GENERATED'] === '1';

type Node = Record<string, unknown>;
const schema = configJsonSchema() as Node;
const props = (node: unknown): Record<string, Node> => ((node as Node)['properties'] ?? {}) as Record<string, Node>;

/** The checks of JSON Schema the generated schema uses (formats aside): the problems of a value, as `path: what`. */
function validate(node: Node, value: unknown, path = '$'): string[] {
  const problems: string[] = [];
  const type = node['type'];
  const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : Number.isInteger(value) ? 'integer' : typeof value;
  if (typeof type === 'string' && type !== actual && !(type === 'number' && actual === 'integer')) return [`${path}: not ${type}`];
  if (Array.isArray(node['enum']) && !node['enum'].includes(value)) problems.push(`${path}: not one of ${node['enum'].join(', ')}`);
  if (Array.isArray(node['anyOf']) && (node['anyOf'] as Node[]).every((option) => validate(option, value, path).length > 0)) problems.push(`${path}: matches no option`);
  if (typeof value === 'number') {
    if (typeof node['minimum'] === 'number' && value < node['minimum']) problems.push(`${path}: below minimum`);
    if (typeof node['exclusiveMinimum'] === 'number' && value <= node['exclusiveMinimum']) problems.push(`${path}: not above ${node['exclusiveMinimum']}`);
    if (typeof node['maximum'] === 'number' && value > node['maximum']) problems.push(`${path}: above maximum`);
  }
  if (typeof value === 'string') {
    if (typeof node['minLength'] === 'number' && value.length < node['minLength']) problems.push(`${path}: too short`);
    if (typeof node['pattern'] === 'string' && !new RegExp(node['pattern'], 'u').test(value)) problems.push(`${path}: does not match ${node['pattern']}`);
  }
  if (Array.isArray(value)) {
    if (typeof node['maxItems'] === 'number' && value.length > node['maxItems']) problems.push(`${path}: too many items`);
    if (typeof node['minItems'] === 'number' && value.length < node['minItems']) problems.push(`${path}: too few items`);
    value.forEach((item, i) => { if (node['items']) problems.push(...validate(node['items'] as Node, item, `${path}[${i}]`)); });
  }
  if (actual === 'object') {
    const object = value as Node;
    for (const key of (node['required'] ?? []) as string[]) if (!(key in object)) problems.push(`${path}.${key}: required`);
    for (const [key, item] of Object.entries(object)) {
      const known = props(node)[key];
      if (known) problems.push(...validate(known, item, `${path}.${key}`));
      else if (node['additionalProperties'] === false) problems.push(`${path}.${key}: unknown key`);
      else if (node['additionalProperties']) problems.push(...validate(node['additionalProperties'] as Node, item, `${path}.${key}`));
    }
  }
  return problems;
}

/** A config file as an operator writes it, touching every section. */
const example = {
  $schema: '../docs/config.schema.json',
  warehouse: { url: 'http://clickhouse:8123', user: 'inferledger', password: 'pw', database: 'inferledger' },
  ingest: { batchRows: 10_000, parserThreads: 3 },
  billing: { poolTagKey: 'gpu-pool' },
  attribution: { costBasis: 'billed', pools: { 'llm-h100': { weightBasis: 'tokens', gpusPerInstance: 8, owner: 'platform' } }, featureTeams: { chat: 'assistant' } },
  aws: { region: 'eu-west-1', granularity: 'DAILY', groupBy: ['LINKED_ACCOUNT'], accounts: [{ id: '123456789012', profile: 'billing' }] },
  kafka: { brokers: ['kafka:9092'], topic: 'requests', retryMinMs: 500 },
  redis: { url: 'redis://:pw@redis:6379' },
  jobs: { billingStart: '2026-09-01', billingPull: false, schedules: { attribute: '*/10 * * * *' } },
  service: { port: 9470, host: '0.0.0.0', collectorMetricsPort: 9464, queryPort: 0, dashboardPort: 3000 },
  queries: { maxThreads: 2, allowedOrigins: ['https://grafana.example.com'] },
  report: { outDir: '/var/reports', scheduled: [{ by: 'team', idle: 'owner' }, { by: 'tenant' }] },
  alerts: {
    relativeIncrease: 0.3,
    webhooks: [{ name: 'oncall', url: 'https://hooks.example.com/x', kind: 'slack' }],
    budgets: [{ by: 'team', owner: 'assistant', monthly: '12000.00', currency: 'USD', warnAt: 0.8 }],
  },
};

describe('the configuration reference', () => {
  it('is what docs/configuration.md says (UPDATE_GENERATED=1 rewrites it)', () => {
    const page = readFileSync(PAGE, 'utf8');
    const begin = BEGIN.exec(page);
    const end = page.indexOf(END);
    expect(begin, 'docs/configuration.md has the reference markers').not.toBeNull();
    if (begin === null) return;
    const start = begin.index + begin[0].length;
    expect(end).toBeGreaterThanOrEqual(start);
    const generated = `\n${configReferenceMarkdown()}\n`;
    if (update) writeFileSync(PAGE, `${page.slice(0, start)}${generated}${page.slice(end)}`);
    expect(readFileSync(PAGE, 'utf8').slice(start, start + generated.length + END.length)).toBe(`${generated}${END}`);
  });

  it('is what docs/config.schema.json says (UPDATE_GENERATED=1 rewrites it)', () => {
    const expected = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    if (update) writeFileSync(SCHEMA, expected);
    expect(readFileSync(SCHEMA, 'utf8')).toBe(expected);
  });

  it('describes every field, and names every environment variable where its field is', () => {
    const undescribed: string[] = [];
    const walk = (node: Node, path: string): void => {
      for (const [key, child] of Object.entries(props(node))) {
        if (typeof child['description'] !== 'string' || child['description'].trim() === '') undescribed.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
        if (child['items']) walk(child['items'] as Node, `${path}${key}[].`);
        if (typeof child['additionalProperties'] === 'object') walk(child['additionalProperties'] as Node, `${path}${key}.*.`);
      }
    };
    walk(schema, '');
    expect(undescribed).toEqual([]);
    const markdown = configReferenceMarkdown();
    for (const [name, [section, key]] of ENV_VARS) {
      expect(props(props(schema)[section])[key]?.['description'], `${name} -> ${section}.${key}`).toContain(`Environment variable: ${name}.`);
      expect(markdown).toContain(`| \`${section}.${key}\` |`);
      expect(markdown).toMatch(new RegExp(`\\| \`${section}\\.${key}\` \\|[^\\n]*\\| \`${name}\` \\|`));
    }
  });

  it('has every section and key loadConfig knows, with defaults and allowed values', () => {
    expect(schema).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', title: 'inferledger configuration', type: 'object', additionalProperties: false });
    expect(Object.keys(props(schema)).sort()).toEqual(['$schema', ...Object.keys(loadConfig({ env: {} }))].sort());
    for (const [section, field] of Object.entries(configSchema.shape)) {
      const keys = Object.keys(field.unwrap().shape);
      const renamed = RENAMED_KEYS.filter((r) => r.from[0] === section).map((r) => r.from[1]);
      expect(Object.keys(props(props(schema)[section])).sort(), section).toEqual([...keys, ...renamed].sort());
    }
    const key = (section: string, name: string): Node => props(props(schema)[section])[name] ?? {};
    expect(key('warehouse', 'database')).toMatchObject({ type: 'string', default: 'inferledger' });
    expect(key('attribution', 'costBasis')).toMatchObject({ enum: ['effective', 'billed'], default: 'effective' });
    expect(key('service', 'port')).toMatchObject({ type: 'integer', minimum: 0, maximum: 65_535 });
    expect(key('service', 'port')['default']).toBeUndefined();
    expect(key('service', 'queryPort')).toMatchObject({ default: 8124 });
    expect(key('queries', 'maxThreads')['default'], 'a default that depends on the machine is not written down').toBeUndefined();
    expect(key('jobs', 'port')).toMatchObject({ deprecated: true, description: expect.stringContaining('service.port') as unknown });
    expect(configReferenceMarkdown()).toContain('| `queries.maxThreads` | integer, >= 1 | half the cores, at least 1 |');
  });

  it('accepts a real config file, as loadConfig does', () => {
    expect(validate(schema, example)).toEqual([]);
    const config = loadConfig({ env: {}, file: writeTemp(tempDir(), 'config.json', JSON.stringify(example)) });
    expect(config.service).toMatchObject({ port: 9470, host: '0.0.0.0', collectorMetricsPort: 9464, dashboardPort: 3000 });
    expect(config.alerts.budgets[0]).toMatchObject({ owner: 'assistant', monthly: '12000.00' });
  });

  it('refuses what loadConfig refuses, at the same key', () => {
    const wrong = [
      [{ kafka: { topik: 'x' } }, '$.kafka.topik: unknown key', /kafka.*topik/],
      [{ attribution: { costBasis: 'list' } }, '$.attribution.costBasis: not one of effective, billed', /attribution\.costBasis/],
      [{ service: { port: 70_000 } }, '$.service.port: above maximum', /service\.port/],
      [{ jobs: { billingPull: 'no' } }, '$.jobs.billingPull: not boolean', /jobs\.billingPull/],
      [{ alerts: { webhooks: [{ url: 'https://hooks.example.com/x' }] } }, '$.alerts.webhooks[0].name: required', /alerts\.webhooks\.0\.name/],
      [{ service: { queryHost: 'not a host!' } }, '$.service.queryHost: matches no option', /service\.queryHost/],
      [{ setvice: {} }, '$.setvice: unknown key', /setvice/],
    ] as const;
    for (const [file, problem, error] of wrong) {
      expect(validate(schema, file), JSON.stringify(file)).toContain(problem);
      expect(() => loadConfig({ env: {}, file: writeTemp(tempDir(), 'wrong.json', JSON.stringify(file)) }), JSON.stringify(file)).toThrow(error);
    }
  });

  it('lets a config file name its schema, and ignores it', () => {
    const dir = tempDir();
    const withSchema = loadConfig({ env: {}, file: writeTemp(dir, 'a.json', JSON.stringify({ $schema: '../docs/config.schema.json', kafka: { topic: 't' } })) });
    const without = loadConfig({ env: {}, file: writeTemp(dir, 'b.json', JSON.stringify({ kafka: { topic: 't' } })) });
    expect(withSchema).toEqual(without);
    expect(withSchema).not.toHaveProperty('$schema');
    // Only the file's top level: a "$schema" inside a section is an unknown key like any other.
    expect(() => loadConfig({ env: {}, file: writeTemp(dir, 'c.json', JSON.stringify({ kafka: { $schema: 'x' } })) })).toThrow(ConfigError);
  });
});
