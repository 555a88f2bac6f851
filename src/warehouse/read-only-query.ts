/**
 * What `inferledger sql` may run without `--write`: one statement that reads
 * the warehouse and nothing else. The engine's `readonly` setting refuses
 * writes to tables, but not a table function that reads or writes a file, a
 * URL or another server, nor `INTO OUTFILE`, nor a second statement (chDB runs
 * every statement of a multi-statement text). So the statement is parsed by
 * the engine itself (`formatQuery`, then `EXPLAIN AST`) and its syntax tree
 * is checked against the rules below before it runs.
 */
import { z } from 'zod';
import { placeholders, sqlFile } from './sql-files.js';

type QueryParams = Record<string, unknown>;

export class ReadOnlyQueryError extends Error {
  override name = 'ReadOnlyQueryError';
}

/** Statements that only read: queries, SHOW, DESCRIBE, EXISTS, EXPLAIN of those. */
const READING_ROOTS = /^(SelectWithUnionQuery|Show\w*|DescribeQuery|Exists\w*|Explain)$/;

/**
 * Table functions that make rows out of nothing but their arguments. Every
 * other table function (file, url, s3, remote, mysql, postgresql, executable,
 * input, merge, ...) reaches files, the network, other servers or processes.
 */
const LOCAL_TABLE_FUNCTIONS = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generate_series', 'generateSeries', 'values', 'null', 'generateRandom']);

/** Ordinary functions that read files or load code from the machine. */
const OUTSIDE_FUNCTIONS = new Set(['file', 'catboostEvaluate', 'modelEvaluate']);

/**
 * Settings a query may set for itself (`SETTINGS join_use_nulls = 1`): they
 * shape its result or bound its cost, nothing else. Any other setting (memory
 * limits, introspection, experimental features) needs --write.
 */
const QUERY_SETTINGS = new Set([
  'join_use_nulls', 'join_algorithm', 'joined_subquery_requires_alias', 'final', 'transform_null_in',
  'aggregate_functions_null_for_empty', 'prefer_column_name_to_alias', 'union_default_mode', 'session_timezone',
  'date_time_output_format', 'max_threads', 'max_block_size', 'max_execution_time', 'max_result_rows', 'max_result_bytes',
  'result_overflow_mode',
]);
const QUERY_SETTING_PREFIXES = ['output_format_', 'format_'];

/** Names set by the SETTINGS clauses of a statement as `formatQuery` prints it. */
export function settingsOf(formatted: string): string[][] {
  return formatted
    .split('\n')
    .filter((line) => /^\s*SETTINGS\s/.test(line))
    .map((line) => [...line.trim().slice('SETTINGS'.length).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^,']+)/g)].map((m) => m[1] as string));
}

/** The output format a statement names (`FORMAT JSON`), from the last line of its `formatQuery` print. */
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
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ReadOnlyQueryError(`setting name ${JSON.stringify(name)} is not an identifier`);
    // eslint-disable-next-line no-control-regex
    if (!/^[^'\\\x00-\x1f]*$/.test(value)) throw new ReadOnlyQueryError(`setting ${name}: its value may not hold quotes, backslashes or control characters`);
    return /^-?\d+(\.\d+)?$/.test(value) ? `${name} = ${value}` : `${name} = '${value}'`;
  });
  // A line of its own: a trailing comment cannot swallow it; a trailing semicolon would start a second statement.
  return `${sql.trimEnd().replace(/;\s*$/, '')}\nSETTINGS ${parts.join(', ')}`;
}

function assertQuerySettings(formatted: string, setNodes: number): void {
  const clauses = settingsOf(formatted);
  // Both come from the engine's parser; if they disagree, refuse rather than guess.
  if (clauses.length !== setNodes) throw new ReadOnlyQueryError('could not read the SETTINGS of this query: refused without --write');
  for (const name of clauses.flat()) {
    if (!QUERY_SETTINGS.has(name) && !QUERY_SETTING_PREFIXES.some((p) => name.startsWith(p))) {
      throw new ReadOnlyQueryError(`changing the setting ${name} is not allowed without --write (a query may set: ${[...QUERY_SETTINGS].join(', ')}, ${QUERY_SETTING_PREFIXES.map((p) => `${p}*`).join(', ')})`);
    }
  }
}

interface AstNode {
  depth: number;
  kind: string;
  name: string;
  parent?: AstNode;
}

/** `EXPLAIN AST` lines ("  Function file (children 1)") into nodes with parents. */
export function parseExplainAst(lines: readonly string[]): AstNode[] {
  const nodes: AstNode[] = [];
  const stack: AstNode[] = [];
  for (const line of lines) {
    const depth = line.length - line.trimStart().length;
    const [kind = '', name = ''] = line.trim().split(/\s+/);
    while (stack.length > 0 && (stack.at(-1) as AstNode).depth >= depth) stack.pop();
    const node: AstNode = { depth, kind, name, ...(stack.length > 0 ? { parent: stack.at(-1) } : {}) };
    nodes.push(node);
    stack.push(node);
  }
  return nodes;
}

/**
 * Throw a ReadOnlyQueryError naming the first rule the statement breaks.
 * Returns how many SETTINGS clauses it has, for the caller to check by name.
 */
export function assertReadOnlyAst(lines: readonly string[]): number {
  const nodes = parseExplainAst(lines);
  const root = nodes[0];
  if (!root || !READING_ROOTS.test(root.kind)) {
    throw new ReadOnlyQueryError(`only queries that read may run without --write (this is ${root?.kind ?? 'an empty statement'})`);
  }
  let settingsClauses = 0;
  for (const node of nodes) {
    const parentKind = node.parent?.kind;
    if (node.kind === 'Explain' && node !== root) throw new ReadOnlyQueryError('nested EXPLAIN is not allowed without --write');
    if (parentKind === 'Explain' && !READING_ROOTS.test(node.kind)) {
      throw new ReadOnlyQueryError(`EXPLAIN of ${node.kind} is not allowed without --write`);
    }
    if (node.kind === 'Set') settingsClauses++;
    if (node.kind === 'Literal' && parentKind === 'SelectWithUnionQuery') {
      throw new ReadOnlyQueryError('INTO OUTFILE is not allowed: the query would write a file');
    }
    if (node.kind !== 'Function') continue;
    if (parentKind === 'TableExpression' && !LOCAL_TABLE_FUNCTIONS.has(node.name)) {
      throw new ReadOnlyQueryError(`table function ${node.name}() is not allowed: it reaches outside the warehouse (allowed: ${[...LOCAL_TABLE_FUNCTIONS].join(', ')})`);
    }
    if (OUTSIDE_FUNCTIONS.has(node.name)) throw new ReadOnlyQueryError(`function ${node.name}() is not allowed: it reads from the machine`);
  }
  return settingsClauses;
}

export interface StatementReader {
  query<S extends z.ZodType>(sql: string, params: QueryParams, row: S): Promise<z.infer<S>[]>;
  /** The lines of `EXPLAIN AST <sql>` (it answers in its own text form, whatever format is asked). */
  explainAst(sql: string, params: QueryParams): Promise<string[]>;
}

/**
 * The statement to run for an analyst's read-only query: the engine's own
 * single-line print of it, checked. Throws ReadOnlyQueryError (or the
 * engine's syntax error) instead of running anything else.
 */
export async function readOnlyStatement(reader: StatementReader, sql: string, params: QueryParams): Promise<string> {
  if (sql.trim() === '') throw new ReadOnlyQueryError('the query is empty');
  let formatted: string;
  try {
    const [row] = await reader.query(sqlFile('queries/format-query'), { query: sql }, z.object({ formatted: z.string() }));
    formatted = row?.formatted ?? '';
  } catch (err) {
    throw new ReadOnlyQueryError((err as Error).message.replace(/: In scope SELECT formatQuery[\s\S]*$/, ''));
  }
  // Only the parameters the statement names: EXPLAIN binds them, and an unused --param is harmless.
  const used = placeholders(formatted);
  const bound = Object.fromEntries(Object.entries(params).filter(([name]) => used.has(name)));
  assertQuerySettings(formatted, assertReadOnlyAst(await reader.explainAst(formatted, bound)));
  return formatted;
}
