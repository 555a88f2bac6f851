/** `doctor`: one line per check of the whole installation, with what fixes each; exit 1 when something needs a person. */
import { InvalidArgumentError, type Command } from 'commander';
import { EXIT, type CommandContext } from '../context.js';

/** `--skip a,b --skip c`: names, repeatable or comma-separated. */
const names = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((n) => n.trim()).filter((n) => n !== '')];

export function registerDoctorCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('doctor')
    .description('check the warehouse, Redis, Kafka, jobs, freshness, coverage, billing, alerts, disk and retention: one line each with OK, WARN or FAIL and its fix; exit 1 when any FAILs')
    .option('--json', 'print the report as one JSON object')
    .option('--skip <checks>', 'leave out checks or groups, comma-separated (e.g. kafka for a deployment fed by files)', names)
    .action(async (opts: { json?: boolean; skip?: string[] }) => {
      const config = await ctx.config();
      const [{ runDoctor, skippable }, { reportJson, reportLines }] = await Promise.all([import('../../doctor/run-doctor.js'), import('../../doctor/report.js')]);
      const known = skippable();
      const unknown = (opts.skip ?? []).filter((n) => !known.includes(n));
      if (unknown.length > 0) throw new InvalidArgumentError(`--skip: no check or group ${unknown.join(', ')} (known: ${known.join(', ')})`);
      const report = await runDoctor({ config, skip: opts.skip ?? [], ...(io.jobs ? { jobs: ctx.jobs } : {}) });
      if (opts.json === true) io.out(reportJson(report));
      else reportLines(report).forEach((line) => { io.out(line); });
      if (report.exitCode !== 0) ctx.setExitCode(EXIT.failed);
    });
}
