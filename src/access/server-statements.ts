/**
 * The scopes of `access.users` as a ClickHouse server keeps them itself, for
 * deployments where analysts reach the server directly rather than through
 * the query endpoint of `inferledger run`: roles, users, row policies,
 * settings profiles, quotas and grants, by the same rules as the endpoint's
 * (`scopeRules`). A scoped user reads each table or view carrying the scope's
 * column through the scope's filter, shared tables whole, nothing else of the
 * database; an `all` user reads every table of it.
 *
 * Row policies. ClickHouse ORs a user's permissive policies on a table and
 * ANDs its restrictive ones onto that; and once a table has any policy, a user
 * with no permissive policy for it sees none of its rows (unless the server
 * sets `access_control_improvements.users_without_row_policies_can_read_rows`,
 * on by default since 24.1 but off in configurations kept from before). So:
 * - every table a scope can filter (carrying `team` or `tenant_id`) gets one
 *   permissive `USING 1` policy `TO ALL`: every user of the server keeps every
 *   row of it, the `all` users and the service's own user too (attribution
 *   reads these tables; a policy for the `all` roles only would leave it no
 *   rows on a server with that setting off);
 * - each scoped user gets a RESTRICTIVE policy with the scope's filter on each
 *   table carrying its column, ANDed onto that `USING 1`. Restrictive fails
 *   closed: a permissive filter would need the `USING 1` to be `TO ALL EXCEPT`
 *   the scoped roles, and a scoped user dropped from the configuration but
 *   left on the server would fall out of that list and read every row; left
 *   with its restrictive policies it still reads only its scope.
 *   The policy names the user as well as its role, so it holds with the role
 *   switched off (`SET ROLE NONE`) and rights given to the user some other way.
 *
 * Refused tables (no scope column, not shared) get no GRANT, so the server
 * refuses every read of them by name: in subqueries, joins, table functions,
 * and inside views, which run with the invoker's rights by default (where the
 * endpoint gives such a view no rows, the server refuses the query). A
 * `USING 0` policy is not needed as well: without SELECT there is nothing to
 * filter, and a policy would put these tables under the policy rules too.
 *
 * Settings: `readonly = 2`, not 1, because clients send settings with their
 * queries (output formats, Grafana's timeout), which 1 refuses; 2 still
 * refuses writes and a change of `readonly`. Each limit is pinned with
 * `MIN 1 MAX <limit>` so a query can tighten it, never lift it (0 means "no
 * limit" to these settings, hence the MIN); a limit configured as 0 is
 * emitted as 0 without bounds.
 *
 * Run twice, the statements leave the same state: `CREATE ... OR REPLACE` gives
 * the entity a new id, so it is used only for entities nothing refers to
 * (row policies, profiles and quotas refer to roles and users, through TO);
 * roles and users, which grants and those TO clauses refer to, are created
 * `IF NOT EXISTS` and then altered. Grants to a role are given `WITH REPLACE
 * OPTION`, so a narrowed scope loses the tables it had; policies a user should
 * no longer have are dropped. Nothing here removes a user taken out of the
 * configuration: that is `DROP USER` by hand.
 */
import type { Config } from '../config/config.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { limitsOf, type CallerLimits } from './authenticate.js';
import { scopeRules, sqlString, type ScopedTable } from './scope.js';
import { readScopedTables } from './scope-tables.js';

type AccessUser = Config['access']['users'][number];

export interface ServerAccessInput {
  /** The warehouse's database on the server. */
  database: string;
  access: Config['access'];
  queries: Config['queries'];
  /** The database's tables and views, with the scope columns each carries (readScopedTables). */
  tables: readonly ScopedTable[];
}

/**
 * The permissive `USING 1` policy of every filtered table. No per-user name
 * (`inferledger_<user>`) can equal it: they differ in the 12th character.
 */
export const ALL_ROWS_POLICY = 'inferledger-all-rows';

/** Schemas JDBC drivers and BI tools browse; their views show only what the user may see. */
const CATALOGUE_GRANTS = ['SELECT ON information_schema.*', 'SELECT ON INFORMATION_SCHEMA.*'];

/** A ClickHouse identifier, backquoted: backslashes and backquotes escaped, nothing can leave it. */
export function sqlIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** The name of a user's role, row policies, settings profile and quota on the server. */
export function serverAccessName(user: string): string {
  return `inferledger_${user}`;
}

/**
 * The statements that give `access.users` on a ClickHouse server, in the
 * order they must run (one statement each, no trailing semicolon). No users:
 * none. Throws when a user's role would carry another user's name (a grant
 * to that name would reach the user, not the role).
 */
export function serverAccessStatements(input: ServerAccessInput): string[] {
  const { database, access, tables } = input;
  if (access.users.length === 0) return [];
  const names = new Set(access.users.map((u) => u.name));
  for (const user of access.users) {
    const role = serverAccessName(user.name);
    if (names.has(role)) {
      throw new Error(`access.users: the server role of user ${user.name} is named ${role}, as another user is; rename one of them`);
    }
  }
  const filterable = tables.filter((t) => t.hasTeam || t.hasTenant);
  // First, so that no table ever has a restrictive policy without it.
  const statements = filterable.map((t) => `CREATE ROW POLICY OR REPLACE ${sqlIdentifier(ALL_ROWS_POLICY)} ON ${qualified(database, t.table)} AS PERMISSIVE FOR SELECT USING 1 TO ALL`);
  for (const user of access.users) statements.push(...userStatements(user, input, filterable));
  return statements;
}

/** serverAccessStatements over the tables the warehouse holds now (for `inferledger access sql`). */
export async function serverAccessStatementsFor(warehouse: Warehouse, config: Pick<Config, 'access' | 'queries'>): Promise<string[]> {
  const tables = await readScopedTables(warehouse);
  return serverAccessStatements({ database: warehouse.database, access: config.access, queries: config.queries, tables });
}

function qualified(database: string, table: string): string {
  return `${sqlIdentifier(database)}.${sqlIdentifier(table)}`;
}

/** One user's statements: role, its policies and grants, then the user, its limits, and the role given to it last. */
function userStatements(user: AccessUser, input: ServerAccessInput, filterable: readonly ScopedTable[]): string[] {
  const { database, access, queries, tables } = input;
  // Also the name of the user's row policies, settings profile and quota (each kind has names of its own).
  const name = sqlIdentifier(serverAccessName(user.name));
  const role = name;
  const login = sqlIdentifier(user.name);
  const hash = sqlString(user.password_sha256_hex);
  const rules = scopeRules(user.scope, database, tables, access.sharedTables);
  const statements = [`CREATE ROLE IF NOT EXISTS ${role}`];

  const readable: string[] = [];
  for (const t of tables) {
    if (rules.refused.has(t.table)) continue;
    readable.push(t.table);
    const filter = rules.filters[`${database}.${t.table}`];
    if (filter !== undefined) {
      statements.push(`CREATE ROW POLICY OR REPLACE ${name} ON ${qualified(database, t.table)} AS RESTRICTIVE FOR SELECT USING ${filter} TO ${role}, ${login}`);
    }
  }
  // Policies of an earlier scope (a teams user now a tenants or an all user).
  const unfiltered = filterable.filter((t) => rules.refused.has(t.table) || rules.filters[`${database}.${t.table}`] === undefined);
  if (unfiltered.length > 0) statements.push(`DROP ROW POLICY IF EXISTS ${name} ON ${unfiltered.map((t) => qualified(database, t.table)).join(', ')}`);

  // Policies before grants: a new scoped role can read nothing before its filters are in place.
  const tableGrants = user.scope === 'all' ? [`SELECT ON ${sqlIdentifier(database)}.*`] : readable.map((t) => `SELECT ON ${qualified(database, t)}`);
  statements.push(`GRANT ${[...tableGrants, ...CATALOGUE_GRANTS].join(', ')} TO ${role} WITH REPLACE OPTION`);

  const limits = limitsOf(queries, user);
  statements.push(
    `CREATE USER IF NOT EXISTS ${login} IDENTIFIED WITH sha256_hash BY ${hash} DEFAULT DATABASE ${sqlIdentifier(database)}`,
    `CREATE SETTINGS PROFILE OR REPLACE ${name} SETTINGS ${profileSettings(limits)} TO ${login}`,
    `CREATE QUOTA OR REPLACE ${name} KEYED BY user_name FOR INTERVAL 1 minute MAX queries = ${integer(limits.queriesPerMinute)} TO ${login}`,
    `GRANT ${role} TO ${login}`,
    // An existing user gets the configured password and role; the hosts it may connect from are left as they are.
    `ALTER USER ${login} IDENTIFIED WITH sha256_hash BY ${hash} DEFAULT ROLE ${role} DEFAULT DATABASE ${sqlIdentifier(database)}`,
  );
  return statements;
}

/** An integer as SQL (no exponent however large). */
function integer(value: number): string {
  return BigInt(value).toString();
}

/** The settings of a user's profile: read-only, and each limit pinned (see the module comment). */
function profileSettings(limits: CallerLimits): string {
  const limit = (setting: string, value: number): string => (value === 0 ? `${setting} = 0` : `${setting} = ${integer(value)} MIN 1 MAX ${integer(value)}`);
  return [
    'readonly = 2',
    limit('max_memory_usage', limits.maxMemoryBytes),
    limit('max_execution_time', limits.maxExecutionSeconds),
    limit('max_threads', limits.maxThreads),
    limit('max_result_rows', limits.maxResultRows),
    limit('max_result_bytes', limits.maxResultBytes),
    "result_overflow_mode = 'throw'",
    limit('max_concurrent_queries_for_user', limits.userConcurrency),
    // readonly = 2 lets a user change settings: not the one that keeps their queries in system.query_log, the server's audit.
    'log_queries = 1 CONST',
  ].join(', ');
}
