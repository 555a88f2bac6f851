/**
 * The configuration reference, generated from the zod schema of config.ts:
 * a Markdown table per section (docs/configuration.md) and a JSON Schema that
 * editors use to complete and check config files (docs/config.schema.json).
 * Descriptions come from the fields' zod descriptions, environment variables
 * from ENV_VARS, renamed keys from RENAMED_KEYS; test/config-reference.test.ts
 * keeps both files in step (UPDATE_GENERATED=1 rewrites them).
 */
import { z } from 'zod';
import { configSchema, ENV_VARS, RENAMED_KEYS } from './config.js';

/** A JSON Schema node, as z.toJSONSchema writes it. */
type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => value !== null && typeof value === 'object' && !Array.isArray(value);
const propertiesOf = (node: Node): Record<string, Node> => (isNode(node['properties']) ? node['properties'] as Record<string, Node> : {});
const requiredOf = (node: Node): string[] => (Array.isArray(node['required']) ? node['required'] as string[] : []);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

const ENV_BY_PATH = new Map(ENV_VARS.map(([name, [section, key]]) => [`${section}.${key}`, name]));

/** Meta key of a default that depends on the machine: documented in words, never as the value of the machine that generated the files. */
const COMPUTED_DEFAULT = 'computedDefault';

/** z.toJSONSchema of the input side (fields with defaults are optional); parts JSON Schema cannot express (refinements) are left out, never thrown on. */
function generatedSchema(): Node {
  const schema = structuredClone(z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' })) as Node;
  forEachNode(schema, (node) => {
    if (node[COMPUTED_DEFAULT] !== undefined) delete node['default'];
  });
  return schema;
}

/** Every node of a schema, depth first. */
function forEachNode(node: Node, visit: (node: Node) => void): void {
  visit(node);
  for (const child of Object.values(propertiesOf(node))) forEachNode(child, visit);
  for (const key of ['items', 'additionalProperties'] as const) if (isNode(node[key])) forEachNode(node[key], visit);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = node[key];
    if (Array.isArray(list)) for (const child of list) if (isNode(child)) forEachNode(child, visit);
  }
}

/**
 * The JSON Schema of a config file (draft-07, which every common editor
 * understands): the zod schema's input side, with each environment variable
 * named in its field's description, a `$schema` key of its own, and the
 * renamed keys still accepted but marked deprecated.
 */
export function configJsonSchema(): object {
  const generated = generatedSchema();
  const sections = propertiesOf(generated);
  for (const [section, sectionNode] of Object.entries(sections)) {
    for (const [key, node] of Object.entries(propertiesOf(sectionNode))) {
      const env = ENV_BY_PATH.get(`${section}.${key}`);
      if (env !== undefined) node['description'] = `${text(node['description'])} Environment variable: ${env}.`.trim();
    }
  }
  forEachNode(generated, (node) => { Reflect.deleteProperty(node, COMPUTED_DEFAULT); });
  for (const { from: [oldSection, oldKey], to: [newSection, newKey] } of RENAMED_KEYS) {
    const target = propertiesOf(sections[newSection] ?? {})[newKey];
    const holder = sections[oldSection];
    if (target === undefined || holder === undefined || !isNode(holder['properties'])) continue;
    // The new key's type, without its default (an editor would insert it) and with a description of its own.
    const shape = Object.fromEntries(Object.entries(structuredClone(target)).filter(([key]) => key !== 'default' && key !== 'description'));
    (holder['properties'] as Record<string, Node>)[oldKey] = { ...shape, description: `Deprecated: use ${newSection}.${newKey}; still read as it, with a warning.`, deprecated: true };
  }
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'inferledger configuration',
    description: 'A JSON config file of inferledger (--config or INFERLEDGER_CONFIG). Environment variables and command-line flags override it. Generated from src/config/config.ts; reference: docs/configuration.md.',
    ...rest,
    properties: {
      $schema: { type: 'string', description: 'Path or URL of this JSON Schema, for editors (e.g. a relative path to docs/config.schema.json); inferledger ignores it.' },
      ...sections,
    },
  };
}

/** Markdown table cell text: one line, pipes escaped, and outside code spans no `<` that would open an HTML tag. */
function cell(value: string): string {
  return value.replace(/\s*\n\s*/g, ' ').split('`').map((part, i) => (i % 2 === 0 ? part.replace(/<(?=[A-Za-z/!?])/g, '&lt;') : part)).join('`').replace(/\|/g, '\\|');
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

function range(node: Node, integer: boolean): string {
  const num = (key: string): number | undefined => (typeof node[key] === 'number' ? node[key] : undefined);
  let min = num('minimum');
  let max = num('maximum');
  let exclusiveMin = num('exclusiveMinimum');
  let exclusiveMax = num('exclusiveMaximum');
  if (max !== undefined && max >= SAFE_MAX) max = undefined;
  if (integer && exclusiveMin !== undefined) [min, exclusiveMin] = [exclusiveMin + 1, undefined];
  if (integer && exclusiveMax !== undefined) [max, exclusiveMax] = [exclusiveMax - 1, undefined];
  const low = min !== undefined ? `>= ${min}` : exclusiveMin !== undefined ? `> ${exclusiveMin}` : undefined;
  const high = max !== undefined ? `<= ${max}` : exclusiveMax !== undefined ? `< ${exclusiveMax}` : undefined;
  if (min !== undefined && max !== undefined) return `, ${min} to ${max}`;
  return [low, high].filter((b) => b !== undefined).map((b, i) => (i === 0 ? `, ${b}` : ` and ${b}`)).join('');
}

/** A field's type in words, for the reference tables. */
function typeOf(node: Node): string {
  if (Array.isArray(node['enum'])) return `one of ${node['enum'].map((v) => `\`${String(v)}\``).join(', ')}`;
  if (Array.isArray(node['anyOf'])) {
    const options = node['anyOf'].filter(isNode);
    const formats = options.map((o) => text(o['format']));
    if (formats.length > 0 && formats.every((f) => ['ipv4', 'ipv6', 'hostname'].includes(f))) return 'IP address or host name';
    return options.map(typeOf).join(' or ');
  }
  switch (node['type']) {
    case 'string': {
      const format = text(node['format']);
      return format === 'uri' ? 'URL' : format === 'hostname' ? 'host name' : format !== '' ? `string (${format})` : 'string';
    }
    case 'integer': return `integer${range(node, true)}`;
    case 'number': return `number${range(node, false)}`;
    case 'boolean': return 'boolean';
    case 'array': {
      const items = isNode(node['items']) ? node['items'] : {};
      const most = typeof node['maxItems'] === 'number' ? ` (at most ${node['maxItems']})` : '';
      return `list of ${isNode(items['properties']) ? 'objects' : typeOf(items)}${most}`;
    }
    case 'object': {
      const values = node['additionalProperties'];
      if (isNode(node['properties']) || !isNode(values) || Object.keys(values).length === 0) return 'object';
      return `map of ${isNode(values['properties']) ? 'objects' : typeOf(values)}`;
    }
    default: return 'any';
  }
}

interface Row { key: string; type: string; default: string; env: string; description: string }

function defaultOf(node: Node, required: boolean): string {
  if (node[COMPUTED_DEFAULT] !== undefined) return text(node[COMPUTED_DEFAULT]);
  if (node['default'] !== undefined) return `\`${JSON.stringify(node['default'])}\``;
  return required ? 'required' : 'unset';
}

/** Rows of an object's fields, then of the fields of objects within them (`a.b`, `list[].c`, `map.*.d`). */
function rowsOf(node: Node, path: string, rows: Row[]): void {
  const required = requiredOf(node);
  for (const [key, child] of Object.entries(propertiesOf(node))) {
    const childPath = `${path}.${key}`;
    rows.push({
      key: childPath,
      type: typeOf(child),
      default: defaultOf(child, required.includes(key)),
      env: ENV_BY_PATH.get(childPath) ?? '',
      description: text(child['description']),
    });
    if (isNode(child['properties'])) rowsOf(child, childPath, rows);
    if (isNode(child['items']) && isNode(child['items']['properties'])) rowsOf(child['items'], `${childPath}[]`, rows);
    const values = child['additionalProperties'];
    if (isNode(values) && isNode(values['properties'])) rowsOf(values, `${childPath}.*`, rows);
  }
}

/**
 * The reference part of docs/configuration.md: per top-level section, its
 * description and a table of its keys (dotted paths; `[]` an element of a
 * list, `*` any key of a map) with type, default, environment variable and
 * description; then the renamed keys.
 */
export function configReferenceMarkdown(): string {
  const out: string[] = [];
  for (const [section, node] of Object.entries(propertiesOf(generatedSchema()))) {
    out.push(`## ${section}`, '', text(node['description']), '');
    out.push('| key | type | default | environment variable | description |', '| --- | --- | --- | --- | --- |');
    const rows: Row[] = [];
    rowsOf(node, section, rows);
    for (const row of rows) {
      out.push(`| \`${row.key}\` | ${cell(row.type)} | ${cell(row.default)} | ${row.env === '' ? '' : `\`${row.env}\``} | ${cell(row.description)} |`);
    }
    out.push('');
  }
  out.push('## Renamed keys', '', 'Still read, as the new key, with a warning naming both; a file giving both with different values is refused.', '');
  out.push('| old key | new key |', '| --- | --- |');
  for (const { from, to } of RENAMED_KEYS) out.push(`| \`${from.join('.')}\` | \`${to.join('.')}\` |`);
  return `${out.join('\n')}\n`;
}
