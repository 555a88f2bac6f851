/**
 * What an analyst may run without `--write` (`inferledger sql`, the query
 * endpoint of `inferledger run`): one statement that reads the warehouse and
 * nothing else. The engine's `readonly` refuses writes to tables, but not a
 * table function, a format or a setting that reads or writes a file, reaches a
 * URL or runs a query of its own. So the statement is parsed by the engine
 * itself (`formatQuery`, then `EXPLAIN AST`) and every part of its syntax
 * tree is checked against the allow-lists of analyst-allow-lists.ts before
 * it runs. Whatever is not listed there is refused.
 */
import { z } from 'zod';
import {
  CATALOGUE_DATABASES, EXPLAIN_KINDS, OUTPUT_FORMATS, QUERY_SETTINGS, READING_STATEMENTS, SHOW_FORMS, SYSTEM_TABLES, TABLE_FUNCTIONS,
  functionAllowed, type AnalystLimits,
} from './analyst-allow-lists.js';
import { placeholders, sqlFile } from './sql-files.js';

type QueryParams = Record<string, unknown>;

export class ReadOnlyQueryError extends Error {
  override name = 'ReadOnlyQueryError';
}

/** What the rules need to know beside the statement. */
export interface ReadOnlyContext {
  /** The warehouse's database: the one database whose tables may be read (besides the allowed system tables). */
  database: string;
  /** Limits a query's own SETTINGS may tighten, never lift. */
  limits: AnalystLimits;
  /** Tables of the database outside the caller's scope (src/access/scope.ts), refused by name. */
  refusedTables?: ReadonlySet<string> | undefined;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A setting of a SETTINGS clause as the engine prints it: its name and its value's text. */
export interface SettingChange {
  name: string;
  value: string;
}

/**
 * The SETTINGS clauses of a statement as `formatQuery` prints them: each is a
 * line of its own that starts with SETTINGS (literals keep their line breaks
 * escaped), `name = literal` separated by commas.
 */
export function settingsOf(formatted: string): SettingChange[][] {
  return formatted
    .split('\n')
    .filter((line) => /^\s*SETTINGS\s/.test(line))
    .map((line) => splitAssignments(line.trim().slice('SETTINGS'.length)));
}

/** `a = 1, b = 'x, y', c = [1, 2]` into its assignments; quotes and brackets keep their commas. */
function splitAssignments(text: string): SettingChange[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      for (i++; i < text.length && text[i] !== "'"; i++) if (text[i] === '\\') i++;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/s.exec(part);
    if (!m) throw new ReadOnlyQueryError(`could not read the setting ${JSON.stringify(part.trim())}: refused without --write`);
    return { name: m[1] as string, value: m[2] as string };
  });
}

/** The output format a statement names (`FORMAT JSON`), from the last lines of its `formatQuery` print. */
export function formatClauseOf(formatted: string): string | undefined {
  const lines = formatted.split('\n');
  // SETTINGS may follow FORMAT; both are clauses of their own line.
  for (const line of lines.slice(-2).reverse()) {
    const m = /^FORMAT ([A-Za-z][A-Za-z0-9_]*)$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * A query with settings given beside it (e.g. as HTTP parameters) added as a
 * SETTINGS clause of its own, so the rules below judge them as they judge the
 * analyst's own clause. Names are identifiers; values are quoted literals
 * that cannot leave their quotes (no quote, backslash or control character).
 */
export function withSettingsClause(sql: string, settings: Readonly<Record<string, string>>): string {
  const entries = Object.entries(settings);
  if (entries.length === 0) return sql;
  const parts = entries.map(([name, value]) => {
    if (!IDENTIFIER.test(name)) throw new ReadOnlyQueryError(`setting name ${JSON.stringify(name)} is not an identifier`);
    // eslint-disable-next-line no-control-regex
    if (!/^[^'\\\x00-\x1f]*$/.test(value)) throw new ReadOnlyQueryError(`setting ${name}: its value may not hold quotes, backslashes or control characters`);
    return /^-?\d+(\.\d+)?$/.test(value) ? `${name} = ${value}` : `${name} = '${value}'`;
  });
  // A line of its own: a trailing comment cannot swallow it; a trailing semicolon would start a second statement.
  return `${sql.trimEnd().replace(/;\s*$/, '')}\nSETTINGS ${parts.join(', ')}`;
}

/**
 * `EXPLAIN AST` prints names and aliases as they are, line breaks included,
 * so a quoted name holding one could add lines that look like nodes. The
 * engine's print of the statement escapes them (`a\nb`): refuse any quoted
 * name with an escaped or raw control character before reading the tree.
 */
export function assertPlainQuotedNames(formatted: string): void {
  for (let i = 0; i < formatted.length; i++) {
    const c = formatted[i];
    if (c !== "'" && c !== '`' && c !== '"') continue;
    let text = '';
    for (i++; i < formatted.length && formatted[i] !== c; i++) {
      if (formatted[i] === '\\') text += formatted[i++] ?? '';
      text += formatted[i] ?? '';
    }
    // eslint-disable-next-line no-control-regex
    if (c !== "'" && (/\\[^\\`"']/.test(text) || /[\x00-\x1f\x7f]/.test(text))) {
      throw new ReadOnlyQueryError(`the name ${c}${text}${c} holds a control character: refused without --write`);
    }
  }
}

export interface AstNode {
  depth: number;
  kind: string;
  /** The rest of the line before any `(alias ...)` / `(children N)`: a name, a literal, or a header's words. */
  text: string;
  declaredChildren: number;
  children: AstNode[];
  parent?: AstNode;
}

/**
 * `EXPLAIN AST` lines ("  Function file (children 1)") into a tree, checked
 * to be exactly the tree the engine printed: one root, and every node with as
 * many children as it declares.
 */
export function parseExplainAst(lines: readonly string[]): AstNode[] {
  const nodes: AstNode[] = [];
  const stack: AstNode[] = [];
  for (const line of lines) {
    const declared = / \(children (\d+)\)$/.exec(line);
    const m = /^( *)([A-Za-z][A-Za-z0-9_]*)(?: (.*))?$/s.exec(declared ? line.slice(0, declared.index) : line);
    if (!m) throw new ReadOnlyQueryError('could not read the syntax tree of this query: refused without --write');
    const depth = (m[1] as string).length;
    while (stack.length > 0 && (stack.at(-1) as AstNode).depth >= depth) stack.pop();
    const parent = stack.at(-1);
    if (parent && depth !== parent.depth + 1) throw new ReadOnlyQueryError('could not read the syntax tree of this query: refused without --write');
    const text = (m[3] ?? '').replace(/ \(alias .*\)$/s, '');
    const node: AstNode = { depth, kind: m[2] as string, text, declaredChildren: Number(declared?.[1] ?? 0), children: [], ...(parent ? { parent } : {}) };
    parent?.children.push(node);
    nodes.push(node);
    stack.push(node);
  }
  const roots = nodes.filter((n) => n.parent === undefined);
  if (roots.length !== 1 || nodes.some((n) => n.children.length !== n.declaredChildren)) {
    throw new ReadOnlyQueryError('could not read the syntax tree of this query: refused without --write');
  }
  return nodes;
}

/** Nodes that are statements: their direct children include the INTO OUTFILE literal and the FORMAT name. */
function isStatement(node: AstNode): boolean {
  return READING_STATEMENTS.has(node.kind) || /Query$/.test(node.kind) && node.kind !== 'SelectQuery';
}

/** Functions whose second argument may be a table (`x IN system.processes`). */
const IN_FUNCTIONS = new Set(['in', 'notIn', 'globalIn', 'globalNotIn', 'nullIn', 'notNullIn', 'globalNullIn', 'globalNotNullIn']);

function assertInScope(table: string, context: ReadOnlyContext): void {
  if (context.refusedTables?.has(table) === true) {
    throw new ReadOnlyQueryError(`table ${table} is outside your scope: it holds every team's and tenant's numbers (an administrator may share it: access.sharedTables)`);
  }
}

function assertTable(name: string, context: ReadOnlyContext): void {
  const parts = name.split('.');
  if (parts.length === 1 && parts[0] !== '') { // the warehouse's database (or a CTE of the query)
    assertInScope(parts[0] as string, context);
    return;
  }
  const [database = '', table = ''] = parts;
  if (parts.length === 2 && database === context.database) {
    assertInScope(table, context);
    return;
  }
  if (parts.length === 2 && database === 'system') {
    if (SYSTEM_TABLES.has(table)) return;
    throw new ReadOnlyQueryError(`table system.${table} is not readable here (system tables allowed: ${[...SYSTEM_TABLES].join(', ')})`);
  }
  if (parts.length === 2 && CATALOGUE_DATABASES.has(database)) return;
  throw new ReadOnlyQueryError(`table ${name} is not readable here: only tables of the database ${context.database}, information_schema and some system tables are`);
}

/** Throw unless the output format is on the allow-list. */
export function assertFormat(name: string): void {
  if (!OUTPUT_FORMATS.has(name)) throw new ReadOnlyQueryError(`format ${name} is not allowed (allowed: ${[...OUTPUT_FORMATS].join(', ')})`);
}

/** The names a statement of the kinds `EXISTS TABLE db.t` and `SHOW CREATE TABLE db.t` prints on its own line: database (may be empty) and table. */
function namedTable(node: AstNode): { database: string; table: string } {
  const [database = '', table = ''] = node.text.split(' ');
  return { database, table };
}

/**
 * Throw a ReadOnlyQueryError naming the first rule the statement breaks.
 * Returns how many SETTINGS clauses of the query's own it has, for the caller
 * to check by name.
 */
export function assertReadOnlyAst(lines: readonly string[], formatted: string, context: ReadOnlyContext): number {
  const nodes = parseExplainAst(lines);
  const root = nodes[0] as AstNode;
  if (!READING_STATEMENTS.has(root.kind)) {
    throw new ReadOnlyQueryError(`only queries that read may run without --write (this is ${root.kind})`);
  }
  const firstLine = formatted.split('\n', 1)[0] ?? '';
  if ((root.kind === 'ShowTables' || root.kind === 'ShowColumns') && !SHOW_FORMS.some((form) => form.test(firstLine))) {
    throw new ReadOnlyQueryError(`${firstLine.split(' ').slice(0, 2).join(' ')} is not allowed without --write (allowed: SHOW TABLES, SHOW DATABASES, SHOW COLUMNS, SHOW CREATE)`);
  }
  let settingsClauses = 0;
  for (const node of nodes) {
    const parent = node.parent;
    if (node.kind === 'Explain') {
      if (node !== root) throw new ReadOnlyQueryError('nested EXPLAIN is not allowed without --write');
      const kind = node.text.replace(/^EXPLAIN ?/, '');
      if (!EXPLAIN_KINDS.has(kind)) throw new ReadOnlyQueryError(`EXPLAIN ${kind} is not allowed without --write (allowed: EXPLAIN ${[...EXPLAIN_KINDS].filter((k) => k !== '').join(', ')})`);
    }
    if (parent?.kind === 'Explain' && !['SelectWithUnionQuery', 'Set', 'Identifier', 'Literal'].includes(node.kind)) {
      throw new ReadOnlyQueryError(`EXPLAIN of ${node.kind} is not allowed without --write`);
    }
    // EXPLAIN's own options (`EXPLAIN header = 1`) print on its line, not as a SETTINGS clause.
    if (node.kind === 'Set' && parent?.kind !== 'Explain') settingsClauses++;
    if (parent && isStatement(parent)) {
      if (node.kind === 'Literal') throw new ReadOnlyQueryError('INTO OUTFILE is not allowed: the query would write a file');
      if (node.kind === 'Identifier') {
        const named = parent.kind.startsWith('Exists') || parent.kind.startsWith('ShowCreate') ? namedTable(parent) : undefined;
        const isName = named !== undefined && (node.text === named.database || node.text === named.table) && parent.children.indexOf(node) < (named.database === '' ? 1 : 2);
        const isShowSource = parent.kind === 'ShowTables' && parent.children.indexOf(node) < parent.children.length - (formatClauseOf(formatted) ? 1 : 0);
        if (!isName && !isShowSource) assertFormat(node.text);
      }
    }
    if ((node.kind === 'ExistsTableQuery' || node.kind === 'ExistsViewQuery' || node.kind === 'ShowCreateTableQuery' || node.kind === 'ShowCreateViewQuery')) {
      const { database, table } = namedTable(node);
      assertTable(database === '' ? table : `${database}.${table}`, context);
    }
    if (node.kind === 'TableIdentifier') assertTable(node.text, context);
    if (node.kind === 'Identifier' && parent?.kind === 'ExpressionList' && parent.children[1] === node && IN_FUNCTIONS.has(parent.parent?.kind === 'Function' ? parent.parent.text : '')) {
      assertTable(node.text, context);
    }
    if (node.kind !== 'Function') continue;
    if (parent?.kind === 'TableExpression') {
      if (!TABLE_FUNCTIONS.has(node.text)) {
        throw new ReadOnlyQueryError(`table function ${node.text}() is not allowed: it reaches outside the warehouse (allowed: ${[...TABLE_FUNCTIONS].join(', ')})`);
      }
    } else if (!functionAllowed(node.text)) {
      throw new ReadOnlyQueryError(`function ${node.text}() is not allowed here: it reaches the machine, the network or the engine's internals, or is unknown`);
    }
  }
  return settingsClauses;
}

function assertSettingValue(change: SettingChange, context: ReadOnlyContext): void {
  const rule = QUERY_SETTINGS.get(change.name);
  if (!rule) {
    throw new ReadOnlyQueryError(`changing the setting ${change.name} is not allowed without --write (a query may set: ${[...QUERY_SETTINGS.keys()].join(', ')})`);
  }
  const unquoted = change.value.replace(/^'(.*)'$/s, '$1');
  if (rule.kind === 'choice' && !rule.values.includes(unquoted)) {
    throw new ReadOnlyQueryError(`setting ${change.name} may be ${rule.values.join(' or ')}, not ${change.value}`);
  }
  if (rule.kind === 'limit') {
    const ceiling = context.limits[rule.limit];
    const value = /^\d+$/.test(unquoted) ? Number(unquoted) : Number.NaN;
    if (!(value > 0) || (ceiling > 0 && value > ceiling)) {
      throw new ReadOnlyQueryError(`setting ${change.name} may only tighten its limit: a whole number from 1 to ${ceiling > 0 ? ceiling : 'any'} (queries.${rule.limit}), not ${change.value}`);
    }
  }
}

function assertQuerySettings(formatted: string, setNodes: number, context: ReadOnlyContext): void {
  const clauses = settingsOf(formatted);
  // Both come from the engine's parser; if they disagree, refuse rather than guess.
  if (clauses.length !== setNodes) throw new ReadOnlyQueryError('could not read the SETTINGS of this query: refused without --write');
  for (const change of clauses.flat()) assertSettingValue(change, context);
}

/** A value bound to an `{name:Identifier}` placeholder: a name, or `database.name`, nothing else. */
function assertIdentifierParams(formatted: string, params: QueryParams): void {
  for (const m of formatted.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):\s*Identifier\s*\}/g)) {
    const value = params[m[1] as string];
    if (typeof value === 'string' && !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(value)) {
      throw new ReadOnlyQueryError(`parameter ${m[1] as string} names a table or column: it must be a plain name (or database.name), not ${JSON.stringify(value)}`);
    }
  }
}

export interface StatementReader {
  query<S extends z.ZodType>(sql: string, params: QueryParams, row: S): Promise<z.infer<S>[]>;
  /** The lines of `EXPLAIN AST <sql>` (it answers in its own text form, whatever format is asked). */
  explainAst(sql: string, params: QueryParams): Promise<string[]>;
}

/**
 * The statement to run for an analyst's read-only query: the engine's own
 * print of it, checked. Throws ReadOnlyQueryError (or the engine's syntax
 * error) instead of running anything else.
 */
export async function readOnlyStatement(reader: StatementReader, sql: string, params: QueryParams, context: ReadOnlyContext): Promise<string> {
  if (sql.trim() === '') throw new ReadOnlyQueryError('the query is empty');
  let formatted: string;
  try {
    const [row] = await reader.query(sqlFile('queries/format-query'), { query: sql }, z.object({ formatted: z.string() }));
    formatted = row?.formatted ?? '';
  } catch (err) {
    throw new ReadOnlyQueryError((err as Error).message.replace(/: In scope SELECT formatQuery[\s\S]*$/, ''));
  }
  assertPlainQuotedNames(formatted);
  // Only the parameters the statement names: EXPLAIN binds them, and an unused --param is harmless.
  const used = placeholders(formatted);
  const bound = Object.fromEntries(Object.entries(params).filter(([name]) => used.has(name)));
  assertIdentifierParams(formatted, bound);
  const format = formatClauseOf(formatted);
  if (format !== undefined) assertFormat(format);
  assertQuerySettings(formatted, assertReadOnlyAst(await reader.explainAst(formatted, bound), formatted, context), context);
  return formatted;
}
