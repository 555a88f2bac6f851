/**
 * The `inferledger` command line: one file per command group in commands/,
 * each parsing its flags and calling into the module that does the work.
 * Nothing here knows SQL or file formats, and a command loads the modules it
 * uses only when it runs, so `--help` and quick commands start at once.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { commandContext, EXIT, type CliIo } from './context.js';
import { registerAccessCommands } from './commands/access.js';
import { registerAlertCommands } from './commands/alerts.js';
import { registerAnalysisCommands } from './commands/analysis.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDlqCommands } from './commands/dlq.js';
import { registerDoctorCommands } from './commands/doctor.js';
import { registerFileCommands } from './commands/files.js';
import { registerPricingCommands } from './commands/pricing.js';
import { registerRetentionCommands } from './commands/retention.js';
import { registerServiceCommands } from './commands/service.js';
import { registerSourceCommands } from './commands/sources.js';

export { EXIT, type CliIo } from './context.js';

export function buildProgram(io: CliIo & { setExitCode: (code: number) => void }): Command {
  const program = new Command('inferledger')
    .description('Cost per ML prediction: inference request logs joined with the GPU bill, in ClickHouse')
    .option('--data-dir <dir>', 'embedded warehouse data directory (env INFERLEDGER_DATA_DIR, default ./.inferledger)')
    .option('--database <name>', 'database of the tables (env CLICKHOUSE_DATABASE, default inferledger)')
    .option('--config <file>', 'JSON configuration file (env INFERLEDGER_CONFIG)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => { io.out(s.trimEnd()); }, writeErr: (s) => { io.err(s.trimEnd()); } });
  const ctx = commandContext(program, io, io.setExitCode);
  registerFileCommands(program, ctx);
  registerAnalysisCommands(program, ctx);
  registerSourceCommands(program, ctx);
  registerServiceCommands(program, ctx);
  registerAlertCommands(program, ctx);
  registerDlqCommands(program, ctx);
  registerBackupCommands(program, ctx);
  registerRetentionCommands(program, ctx);
  registerPricingCommands(program, ctx);
  registerConfigCommands(program, ctx);
  registerDoctorCommands(program, ctx);
  registerAccessCommands(program, ctx);
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram({ ...io, setExitCode: (code) => { exitCode = code; } });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    // InvalidArgumentError is a CommanderError: one thrown by an action (not yet printed) is checked first.
    if (err instanceof InvalidArgumentError) {
      io.err(`inferledger: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    // By name: the configuration module is loaded only by the commands that read it.
    if (err instanceof Error && err.name === 'ConfigError') {
      io.err(err.message);
      return EXIT.usage;
    }
    io.err(`inferledger: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

/** Lines to stdout and stderr. */
export function processIo(): CliIo {
  return { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };
}
