/** `access password`, `access log` and `access sql`: who may query the endpoint of `run`, and what they asked. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { isoInstant, positiveInt, type CommandContext } from '../context.js';

/** All of stdin, as text. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerAccessCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const access = program.command('access').description('users and scopes of the query endpoint of `run` (access.users): password hashes, the audit of every query, the same scopes on a ClickHouse server');

  access
    .command('password')
    .description('print the password_sha256_hex of a password read from stdin (or --from-file), for access.users; the password itself is never printed or stored')
    .option('--from-file <file>', 'read the password from this file instead of stdin')
    .action(async (opts: { fromFile?: string }) => {
      const text = opts.fromFile === undefined ? await readStdin() : readFileSync(opts.fromFile, 'utf8');
      // One trailing line break is the shell's, not the password's.
      const password = text.replace(/\r?\n$/, '');
      if (password === '') throw new InvalidArgumentError('the password is empty: give one on stdin, e.g. `read -rs PW; printf %s "$PW" | inferledger access password`');
      const { passwordSha256Hex } = await import('../../access/authenticate.js');
      io.out(passwordSha256Hex(password));
    });

  access
    .command('log')
    .description('the audit of the query endpoint, newest first: who asked what, when, how much it returned, how long it took and how it ended (refusals included; kept 180 days)')
    .option('--user <name>', 'only this user')
    .option('--outcome <outcome>', 'only this outcome: ok, error, unauthenticated, limited or cancelled')
    .option('--since <iso>', 'from this date or date-time with a zone (default: the last 24 hours)', isoInstant('--since'))
    .option('--limit <n>', 'at most this many requests', positiveInt('--limit'), 100)
    .option('--json', 'one JSON object per line, every column')
    .action(async (opts: { user?: string; outcome?: string; since?: Date; limit: number; json?: boolean }) => {
      const [{ AUDIT_OUTCOMES, auditLine, readAuditLog }, { withReader }, { DAY_MS }] = await Promise.all([
        import('../../access/audit-log.js'), import('../../service/warehouse-access.js'), import('../../util/time.js'),
      ]);
      if (opts.outcome !== undefined && !(AUDIT_OUTCOMES as readonly string[]).includes(opts.outcome)) throw new InvalidArgumentError(`--outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
      const config = await ctx.config();
      const since = opts.since?.getTime() ?? Date.now() - DAY_MS;
      const rows = await withReader(config, io.err, (warehouse) => readAuditLog(warehouse, { since, user: opts.user, outcome: opts.outcome, limit: opts.limit }));
      if (rows.length === 0) io.err(`no queries recorded since ${new Date(since).toISOString()}${opts.user === undefined ? '' : ` by ${opts.user}`}`);
      for (const row of rows) io.out(opts.json === true ? JSON.stringify(row) : auditLine(row));
    });

  access
    .command('sql')
    .description('print the CREATE ROLE / USER / ROW POLICY / SETTINGS PROFILE / QUOTA and GRANT statements that give access.users the same scopes and limits natively on a ClickHouse server')
    .action(async () => {
      const config = await ctx.config();
      const [{ withReader }, { serverAccessStatementsFor }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../access/server-statements.js'),
      ]);
      if (config.access.users.length === 0) throw new InvalidArgumentError('access.users is empty: there is nothing to create (configure users and scopes first)');
      const statements = await withReader(config, io.err, (warehouse) => serverAccessStatementsFor(warehouse, config));
      io.out(`${statements.join(';\n')};`);
    });
}
