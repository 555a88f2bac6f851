/**
 * Everything an analyst's read-only query may use, as allow-lists: statement
 * kinds, output formats, settings (by exact name), table functions, tables
 * outside the warehouse's own database, and functions. Anything not listed
 * here is refused (read-only-query.ts applies them to the engine's syntax
 * tree). A newer engine adds formats, settings and functions; none of them is
 * usable until it is listed here.
 *
 * The function list itself is long and generated from the engine
 * (analyst-functions.generated.ts, by the rule below); a test fails when the
 * engine and the file disagree.
 */
import { ALLOWED_FUNCTIONS, CASE_INSENSITIVE_FUNCTIONS } from './analyst-functions.generated.js';

/**
 * Statement kinds (the root of `EXPLAIN AST`) that only read. `ShowTables`
 * stands for several statements the syntax tree does not tell apart, so
 * SHOW_FORMS below decides those by the engine's own print of the statement.
 */
export const READING_STATEMENTS: ReadonlySet<string> = new Set([
  'SelectWithUnionQuery', 'DescribeQuery', 'ExistsTableQuery', 'ExistsViewQuery', 'ExistsDatabaseQuery',
  'ShowTables', 'ShowColumns', 'ShowCreateTableQuery', 'ShowCreateViewQuery', 'ShowCreateDatabaseQuery', 'Explain',
]);

/** The SHOW statements allowed, by how the engine prints them (`SHOW TABLES FROM x LIKE 'y'`). */
export const SHOW_FORMS: readonly RegExp[] = [
  /^SHOW (FULL )?(TEMPORARY )?TABLES\b/,
  /^SHOW DATABASES\b/,
  /^SHOW (FULL )?(EXTENDED )?(FULL )?COLUMNS\b/,
  /^SHOW CREATE (TEMPORARY )?(TABLE|VIEW|DATABASE)\b/,
];

/** The kinds of EXPLAIN allowed (what follows EXPLAIN in the engine's print; none is PLAN); each explains a SELECT only. */
export const EXPLAIN_KINDS: ReadonlySet<string> = new Set(['', 'AST', 'SYNTAX', 'QUERY TREE', 'PLAN', 'PIPELINE', 'ESTIMATE']);

/**
 * Output formats: the data formats clients read. Never a format that reads a
 * schema or template from a file, a registry or a query (Template,
 * CustomSeparated with its escaping rules is harmless but unused, Protobuf*,
 * CapnProto, AvroConfluent, Avro), nor one that speaks another server's wire
 * protocol (MySQLWire, PostgreSQLWire, ODBCDriver2).
 */
export const OUTPUT_FORMATS: ReadonlySet<string> = new Set([
  'TabSeparated', 'TabSeparatedRaw', 'TabSeparatedWithNames', 'TabSeparatedWithNamesAndTypes', 'TabSeparatedRawWithNames', 'TabSeparatedRawWithNamesAndTypes',
  'TSV', 'TSVRaw', 'TSVWithNames', 'TSVWithNamesAndTypes', 'TSVRawWithNames', 'TSVRawWithNamesAndTypes',
  'CSV', 'CSVWithNames', 'CSVWithNamesAndTypes',
  'JSON', 'JSONStrings', 'JSONCompact', 'JSONCompactStrings', 'JSONColumns', 'JSONColumnsWithMetadata', 'JSONCompactColumns', 'JSONObjectEachRow',
  'JSONEachRow', 'JSONLines', 'JSONL', 'NDJSON', 'JSONStringsEachRow', 'JSONEachRowWithProgress', 'JSONStringsEachRowWithProgress', 'PrettyJSONEachRow', 'PrettyJSONLines', 'PrettyNDJSON',
  'JSONCompactEachRow', 'JSONCompactEachRowWithNames', 'JSONCompactEachRowWithNamesAndTypes', 'JSONCompactEachRowWithProgress',
  'JSONCompactStringsEachRow', 'JSONCompactStringsEachRowWithNames', 'JSONCompactStringsEachRowWithNamesAndTypes', 'JSONCompactStringsEachRowWithProgress',
  'Pretty', 'PrettyCompact', 'PrettyCompactMonoBlock', 'PrettyCompactNoEscapes', 'PrettyCompactNoEscapesMonoBlock', 'PrettyMonoBlock', 'PrettyNoEscapes',
  'PrettyNoEscapesMonoBlock', 'PrettySpace', 'PrettySpaceMonoBlock', 'PrettySpaceNoEscapes', 'PrettySpaceNoEscapesMonoBlock',
  'Vertical', 'Markdown', 'MD', 'XML', 'Values', 'SQLInsert', 'TSKV', 'Null',
  'RowBinary', 'RowBinaryWithNames', 'RowBinaryWithNamesAndTypes', 'Native', 'Parquet', 'Arrow', 'ArrowStream', 'ORC',
  'LineAsString', 'RawBLOB',
]);

/** How a setting's value is judged. */
export type SettingRule =
  /** Any literal value: it only shapes the result. */
  | { kind: 'shape' }
  /** A positive whole number no larger than the configured limit of the same name: a query may tighten its limit, never lift it. */
  | { kind: 'limit'; limit: AnalystLimitName }
  /** One of a few words. */
  | { kind: 'choice'; values: readonly string[] };

export type AnalystLimitName = 'maxMemoryBytes' | 'maxExecutionSeconds' | 'maxThreads' | 'maxResultRows' | 'maxResultBytes';

const shape: SettingRule = { kind: 'shape' };

/**
 * Settings a query may set (in its SETTINGS clause, or as HTTP parameters,
 * which are judged as the same clause), by exact name. Nothing that names a
 * path or URL, turns on introspection or experimental features, or lifts a
 * limit.
 */
export const QUERY_SETTINGS: ReadonlyMap<string, SettingRule> = new Map<string, SettingRule>([
  // What the query computes.
  ['join_use_nulls', shape], ['join_algorithm', shape], ['joined_subquery_requires_alias', shape], ['final', shape], ['transform_null_in', shape],
  ['aggregate_functions_null_for_empty', shape], ['prefer_column_name_to_alias', shape], ['union_default_mode', shape], ['session_timezone', shape],
  ['extremes', shape], ['max_block_size', shape], ['limit', shape], ['offset', shape],
  // How the result is printed.
  ['date_time_output_format', shape], ['output_format_decimal_trailing_zeros', shape], ['output_format_write_statistics', shape],
  ['output_format_json_quote_64bit_integers', shape], ['output_format_json_quote_64bit_floats', shape], ['output_format_json_quote_decimals', shape],
  ['output_format_json_quote_denormals', shape], ['output_format_json_named_tuples_as_objects', shape], ['output_format_json_validate_utf8', shape],
  ['output_format_json_escape_forward_slashes', shape], ['output_format_json_array_of_rows', shape], ['output_format_json_pretty_print', shape],
  ['output_format_json_map_as_array_of_tuples', shape], ['output_format_json_skip_null_value_in_named_tuples', shape],
  ['output_format_csv_crlf_end_of_line', shape], ['output_format_tsv_crlf_end_of_line', shape],
  ['format_csv_delimiter', shape], ['format_csv_null_representation', shape], ['format_tsv_null_representation', shape],
  ['output_format_pretty_max_rows', shape], ['output_format_pretty_max_column_pad_width', shape], ['output_format_pretty_max_value_width', shape],
  ['output_format_pretty_color', shape], ['output_format_pretty_grid_charset', shape], ['output_format_pretty_row_numbers', shape],
  ['output_format_pretty_single_large_number_tip_threshold', shape], ['output_format_pretty_display_footer_column_names', shape],
  ['output_format_pretty_fallback_to_vertical', shape], ['output_format_pretty_highlight_digit_groups', shape], ['output_format_pretty_multiline_fields', shape],
  ['output_format_pretty_squash_consecutive_ms', shape], ['output_format_markdown_escape_special_characters', shape],
  ['output_format_arrow_string_as_string', shape], ['output_format_parquet_string_as_string', shape], ['output_format_orc_string_as_string', shape],
  ['output_format_native_write_json_as_string', shape], ['output_format_binary_write_json_as_string', shape],
  // Limits: only ever tightened.
  ['max_memory_usage', { kind: 'limit', limit: 'maxMemoryBytes' }],
  ['max_execution_time', { kind: 'limit', limit: 'maxExecutionSeconds' }],
  ['max_threads', { kind: 'limit', limit: 'maxThreads' }],
  ['max_result_rows', { kind: 'limit', limit: 'maxResultRows' }],
  ['max_result_bytes', { kind: 'limit', limit: 'maxResultBytes' }],
  ['result_overflow_mode', { kind: 'choice', values: ['throw', 'break'] }],
  ['timeout_overflow_mode', { kind: 'choice', values: ['throw', 'break'] }],
]);

/**
 * Table functions that make rows out of their arguments alone; every other one reaches files, the network, other servers or processes.
 * Names are matched exactly; `values` is the one the engine also takes in other cases, and `VALUES` is how the JDBC driver writes it
 * (DatabaseMetaData.getTypeInfo, getClientInfoProperties).
 */
export const TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generate_series', 'generateSeries', 'values', 'VALUES', 'null', 'generateRandom']);

/**
 * Tables of the `system` database an analyst may read: the catalogue clients
 * browse (JDBC, DBeaver, Grafana) and constant tables. Not the process list,
 * logs, stack traces, disks, build options, users or anything else that
 * tells about the machine or other sessions.
 */
export const SYSTEM_TABLES: ReadonlySet<string> = new Set([
  'one', 'numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'primes',
  'databases', 'tables', 'columns', 'data_skipping_indices', 'functions', 'table_functions', 'aggregate_function_combinators', 'formats',
  'data_type_families', 'table_engines', 'database_engines', 'settings', 'merge_tree_settings', 'time_zones', 'collations', 'keywords', 'contributors',
]);

/** Databases other than the warehouse's own that may be read: the standard catalogue views over the system tables above. */
export const CATALOGUE_DATABASES: ReadonlySet<string> = new Set(['information_schema', 'INFORMATION_SCHEMA']);

/**
 * The rule the generated function list follows: every function of the engine
 * (an alias judged as what it stands for) except these categories and names.
 */
export const REFUSED_FUNCTION_CATEGORIES: ReadonlySet<string> = new Set([
  'Introspection', // stack traces, symbols and addresses of the process
  'Dictionary', 'Embedded Dictionary', // dictionaries load from files, URLs and other servers
  'AI', // calls out to model providers
  'Machine Learning', // loads models from the machine
]);

export const REFUSED_FUNCTIONS: ReadonlySet<string> = new Set([
  // Files, the network, other servers and tables named by string.
  'file', 'catboostEvaluate', 'hasColumnInTable', 'joinGet', 'joinGetOrNull', 'showCertificate', 'getClientHTTPHeader',
  // The machine, the server and its configuration.
  'hostName', 'FQDN', 'buildId', 'revision', 'uptime', 'serverUUID', 'getServerSetting', 'getMergeTreeSetting', 'getMacro', 'getOSKernelVersion',
  'getServerPort', 'tcpPort', 'displayName', 'filesystemAvailable', 'filesystemCapacity', 'filesystemUnreserved', 'zookeeperSessionUptime',
  'hasThreadFuzzer', 'connectionId', 'currentProfiles', 'enabledProfiles', 'defaultProfiles', 'structureToCapnProtoSchema', 'structureToProtobufSchema',
  // The engine's internals, not meant to be called.
  '__actionName', '__applyFilter', '__bitBoolMaskAnd', '__bitBoolMaskOr', '__bitSwapLastTwo', '__bitWrapperFunc', '__getScalar', '__patchPartitionID',
  '__scalarSubqueryResult', '__toYearCalendarOnly',
]);

/** Functions the syntax tree names that are syntax, not catalogue entries (`x -> x + 1`). */
const SYNTAX_FUNCTIONS: ReadonlySet<string> = new Set(['lambda']);

const AGGREGATE_COMBINATORS = ['SimpleState', 'OrDefault', 'Distinct', 'Resample', 'ForEach', 'ArgMax', 'ArgMin', 'OrNull', 'MergeState', 'Merge', 'State', 'Array', 'Tuple', 'Null', 'Map', 'If'];
const allowedLower = new Set(CASE_INSENSITIVE_FUNCTIONS.map((name) => name.toLowerCase()));
const allowed = new Set(ALLOWED_FUNCTIONS);

/** Whether a function may be called: listed, case-insensitively where the engine is, or an aggregate with combinators (`sumIf`, `uniqMergeState`). */
export function functionAllowed(name: string): boolean {
  if (SYNTAX_FUNCTIONS.has(name) || allowed.has(name) || allowedLower.has(name.toLowerCase())) return true;
  for (const suffix of AGGREGATE_COMBINATORS) {
    if (name.length > suffix.length && name.endsWith(suffix) && functionAllowed(name.slice(0, -suffix.length))) return true;
  }
  return false;
}

/**
 * The limits every analyst query runs under (configuration `queries`), as
 * engine settings. A limit of 0 means none, as in the engine.
 */
export interface AnalystLimits {
  maxMemoryBytes: number;
  maxExecutionSeconds: number;
  maxThreads: number;
  maxResultRows: number;
  maxResultBytes: number;
  /** The lower result limit of answers held whole (formats that do not stream, values bound as parameters). */
  maxBufferedResultBytes: number;
}

export const LIMIT_SETTINGS: Readonly<Record<AnalystLimitName, string>> = {
  maxMemoryBytes: 'max_memory_usage',
  maxExecutionSeconds: 'max_execution_time',
  maxThreads: 'max_threads',
  maxResultRows: 'max_result_rows',
  maxResultBytes: 'max_result_bytes',
};

/**
 * The settings of the session an analyst query runs in: its limits, no
 * introspection, and `readonly = 2` last (writes refused, `readonly` itself
 * fixed; 1 would refuse the output settings every client sends). `held`:
 * the answer is held whole before it is sent, under its own result limit.
 */
export function analystSessionSettings(limits: AnalystLimits, held = false): Record<string, string | number> {
  const settings: Record<string, string | number> = { allow_introspection_functions: 0, result_overflow_mode: 'throw' };
  for (const [name, setting] of Object.entries(LIMIT_SETTINGS) as [AnalystLimitName, string][]) settings[setting] = limits[name];
  if (held) settings['max_result_bytes'] = limits.maxResultBytes === 0 ? limits.maxBufferedResultBytes : Math.min(limits.maxResultBytes, limits.maxBufferedResultBytes);
  settings['readonly'] = 2;
  return settings;
}

/** The read-only rules as a Markdown table, for docs/querying.md (a test keeps that page's copy current). */
export function allowListsMarkdown(): string {
  const code = (names: Iterable<string>): string => [...names].map((n) => `\`${n}\``).join(', ');
  const limits = [...QUERY_SETTINGS].filter(([, rule]) => rule.kind === 'limit').map(([name]) => name);
  const shaping = [...QUERY_SETTINGS].filter(([, rule]) => rule.kind !== 'limit').map(([name]) => name);
  return [
    '| may | may not (refused, the rule named; nothing runs) |',
    '| --- | --- |',
    '| one `SELECT` (CTEs, joins, unions, subqueries), `SHOW TABLES`, `SHOW DATABASES`, `SHOW COLUMNS`, `SHOW CREATE`, `DESCRIBE`, `EXISTS`, `EXPLAIN` of a `SELECT` | a second statement; `INSERT`, `CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `OPTIMIZE`, `SYSTEM`, `USE`, `SET`, `KILL`, `SHOW PROCESSLIST`, `SHOW GRANTS`, ... |',
    `| tables and views of the warehouse's database, \`information_schema\`, and of \`system\` only ${code(SYSTEM_TABLES)} | any other database; \`system.processes\`, \`system.stack_trace\`, \`system.disks\`, \`system.build_options\`, logs, users, ... (also behind \`IN\`) |`,
    `| the table functions ${code(TABLE_FUNCTIONS)} | every other table function (files, URLs, other servers, processes), anywhere in the query |`,
    `| every function of the engine except those refused (${ALLOWED_FUNCTIONS.length} names, listed in \`src/warehouse/analyst-functions.generated.ts\`) | the categories ${code(REFUSED_FUNCTION_CATEGORIES)}, and ${code(REFUSED_FUNCTIONS)} |`,
    `| the output formats ${code(OUTPUT_FORMATS)} | any other format: those that read a schema or template from a file, a registry or a query (\`Template\`, \`Protobuf\`, \`CapnProto\`, \`Avro\`, \`AvroConfluent\`, ...), other servers' wire formats |`,
    `| the settings ${code(shaping)}; and ${code(limits)} below their configured limit (\`queries.*\`) | any other setting, by exact name: nothing that names a path or a URL, turns on introspection or lifts a limit; \`INTO OUTFILE\` under any statement |`,
  ].join('\n');
}
