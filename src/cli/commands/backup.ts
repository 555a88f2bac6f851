/** `backup` and `restore`: the embedded warehouse, copied consistently and brought back. */
import { InvalidArgumentError, type Command } from 'commander';
import { EXIT, type CommandContext } from '../context.js';

const directory = (value: string): string => {
  if (value.trim() === '') throw new InvalidArgumentError('the directory must not be empty');
  return value;
};

export function registerBackupCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('backup')
    .description('copy every table of the embedded warehouse, consistently, into a new or empty directory, with a manifest of row counts and checksums (through the running service when one holds the data directory)')
    .argument('<dir>', 'where the backup goes: a new or empty directory, outside the data directory', directory)
    .option('--json', 'print the manifest as JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const config = await ctx.config();
      const { backupCommand, backupSummary } = await import('../../backup/backup-command.js');
      const outcome = await backupCommand(config, dir, io.err);
      if (outcome.kind === 'server') {
        outcome.lines.forEach((line) => { io.out(line); });
        ctx.setExitCode(EXIT.usage);
        return;
      }
      if (opts.json === true) io.out(JSON.stringify(outcome.manifest));
      else backupSummary(outcome).forEach((line) => { io.out(line); });
    });
  program
    .command('restore')
    .description('load a backup into an empty data directory, then check every table against the manifest; the schema stays at the backup\'s version')
    .argument('<dir>', 'a directory written by `inferledger backup`', directory)
    .option('--json', 'print the verified tables as JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const config = await ctx.config();
      const { restoreCommand, restoreSummary } = await import('../../backup/backup-command.js');
      const outcome = await restoreCommand(config, dir, io.err);
      if (outcome.kind === 'server') {
        outcome.lines.forEach((line) => { io.out(line); });
        ctx.setExitCode(EXIT.usage);
        return;
      }
      if (opts.json === true) io.out(JSON.stringify({ database: outcome.database, dataDir: outcome.dataDir, schema_version: outcome.manifest.schema_version, tables: outcome.tables }));
      else restoreSummary(outcome).forEach((line) => { io.out(line); });
    });
}
