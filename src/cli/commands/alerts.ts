/** `alerts evaluate|list|ack`: CPP regression and budget alerts (src/alerts does the work). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ACK_REASONS, type AckReason } from '../../alerts/ack-reasons.js';
import type { EvaluationResult } from '../../alerts/evaluate.js';
import { isUtcDay } from '../../util/time.js';
import { EXIT, type CommandContext } from '../context.js';

export function registerAlertCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const alerts = program.command('alerts').description('CPP regression and budget alerts: evaluate, list, acknowledge');
  alerts
    .command('evaluate')
    .description('judge complete days against their baseline; open, update and resolve alerts; notify on open, budget escalation and resolve')
    .option('--day <date>', 'one UTC day (YYYY-MM-DD); default: every complete day not yet evaluated in alerts.lookbackDays')
    .option('--no-notify', 'do not send webhooks')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { day?: string; notify: boolean; json?: boolean }) => {
      if (opts.day !== undefined && !isUtcDay(opts.day)) throw new InvalidArgumentError('--day must be a UTC day, YYYY-MM-DD');
      const config = await ctx.config();
      const [{ withCurrentWarehouse }, { evaluateAlerts }] = await Promise.all([import('../../service/warehouse-access.js'), import('../../alerts/evaluate.js')]);
      const result = await withCurrentWarehouse(config, io.err, (warehouse) => evaluateAlerts(warehouse, config, { day: opts.day, notify: opts.notify }));
      if (opts.json === true) io.out(JSON.stringify(result));
      else await printEvaluation(result, io.out, io.err);
      if (result.deliveries.some((d) => d.outcome === 'failed')) ctx.setExitCode(EXIT.failed);
    });
  alerts
    .command('list')
    .description('alerts, newest first')
    .option('--open', 'only open alerts')
    .option('--json', 'one JSON line per alert')
    .action(async (opts: { open?: boolean; json?: boolean }) => {
      const config = await ctx.config();
      const [{ withReader }, { listAlerts }] = await Promise.all([import('../../service/warehouse-access.js'), import('../../alerts/store.js')]);
      const rows = await withReader(config, io.err, (warehouse) => listAlerts(warehouse, opts.open === true));
      for (const r of rows) {
        if (opts.json === true) io.out(JSON.stringify(r));
        else {
          const ack = r.acknowledged ? `, acknowledged (${r.ack_reason})` : '';
          const change = `${r.relative_increase >= 0 ? '+' : ''}${(r.relative_increase * 100).toFixed(0)}%`;
          const what = r.metric === 'budget' ? `budget ${r.level}, forecast ${change} vs budget` : `${r.metric} CPP ${change}  dominant: ${r.dominant_factor}`;
          io.out(`${r.alert_id}  ${r.status}${ack}  ${r.alert_key}  ${r.opened_day}..${r.last_day}  ${what}`);
          io.out(`  ${r.summary.split('\n').join('\n  ')}`);
        }
      }
      if (rows.length === 0 && opts.json !== true) io.out(opts.open === true ? 'no open alerts' : 'no alerts');
    });
  alerts
    .command('ack')
    .description('acknowledge an alert (it still updates and resolves)')
    .argument('<id>', 'alert id')
    .addOption(new Option('--reason <reason>', 'why it is fine').choices([...ACK_REASONS]).makeOptionMandatory())
    .action(async (id: string, opts: { reason: AckReason }) => {
      const config = await ctx.config();
      const [{ withCurrentWarehouse }, { acknowledge }] = await Promise.all([import('../../service/warehouse-access.js'), import('../../alerts/store.js')]);
      const row = await withCurrentWarehouse(config, io.err, (warehouse) => acknowledge(warehouse, id, opts.reason));
      io.out(`acknowledged ${row.alert_id} (${row.alert_key}): ${opts.reason}`);
    });
}

/** Per day what was judged, then each alert opened or resolved, then each notification. */
async function printEvaluation(result: EvaluationResult, out: (line: string) => void, err: (line: string) => void): Promise<void> {
  const { windowLabel } = await import('../../alerts/explain.js');
  for (const d of result.days) {
    const budgets = d.budgetsSkipped !== undefined
      ? `; budgets skipped: ${d.budgetsSkipped}`
      : d.budgets > 0 ? `; ${d.budgets} budgets, ${d.budgetsFiring} forecast at warning level or over` : '';
    const judged = `${d.keys} keys, ${d.firing} over threshold${budgets}${d.estimated ? ' (billing estimated)' : ''}`;
    if (d.status === 'waiting') out(`${d.day}: waiting: ${d.reason ?? ''}`);
    else if (d.status === 'partial') out(`${windowLabel(d.day, d.hours)}: ${judged}; the day waits: ${d.reason ?? ''}`);
    else out(`${d.day}: ${judged}`);
  }
  for (const t of result.transitions.filter((x) => x.transition !== 'updated')) {
    const what = t.alert.metric === 'budget' ? `budget, ${t.alert.level}` : `${t.alert.metric} CPP, dominant factor: ${t.alert.dominant_factor}`;
    out(`\n${t.transition.toUpperCase()} alert ${t.alert.alert_id} (${what})\n${t.alert.summary}`);
  }
  for (const d of result.deliveries) {
    const line = `notification ${d.dedupeKey} -> ${d.webhook}: ${d.outcome}${d.attempts > 0 ? ` after ${d.attempts} attempt(s)` : ''}${d.error ? `: ${d.error}` : ''}`;
    if (d.outcome === 'failed') err(line);
    else out(line);
  }
  if (result.days.length === 0) out('nothing to evaluate: no attributed day is owed');
}
