/** `pricing set | import | list`: rate cards for pools no cloud bills by the hour. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../../config/config.js';
import type { SetResult } from '../../pricing/pricing.js';
import type { Warehouse } from '../../warehouse/warehouse.js';
import { EXIT, positiveInt, type CommandContext } from '../context.js';

interface SetFlags {
  pool: string;
  perGpuHour?: string;
  perInstanceHour?: string;
  perSliceHour?: string;
  monthly?: string;
  currency: string;
  gpus?: number;
  instances?: number;
  gpusPerInstance?: number;
  from: string;
  to?: string;
  gpuType?: string;
  mig?: string;
  slices?: number;
  timeSliced?: boolean;
  reason?: string;
  by?: string;
  json?: boolean;
}

export function registerPricingCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const pricing = program
    .command('pricing')
    .description('rate cards: price GPU pools no cloud bills by the hour (on-premises, monthly invoices, internal contracts); each version becomes billing lines of source rate-card');

  /**
   * Every writing command: the card months brought up to date first (a change
   * a crash left unwritten), then the change, then what it did. A refused
   * change: its message, exit 2, nothing written.
   */
  const change = async (
    asJson: boolean,
    apply: (pricingModule: typeof import('../../pricing/pricing.js'), warehouse: Warehouse, config: Config, now: number) => Promise<SetResult[]>,
  ): Promise<void> => {
    const config = await ctx.config();
    const [{ withCurrentWarehouse }, pricingModule, { changeSummary }, { RateCardError }] = await Promise.all([
      import('../../service/warehouse-access.js'), import('../../pricing/pricing.js'), import('../../pricing/pricing-text.js'), import('../../pricing/rate-card.js'),
    ]);
    let results: SetResult[];
    try {
      results = await withCurrentWarehouse(config, io.err, async (warehouse) => {
        const now = Date.now();
        await pricingModule.syncRateCards(warehouse, config, now);
        return apply(pricingModule, warehouse, config, now);
      });
    } catch (err) {
      if (!(err instanceof RateCardError)) throw err;
      io.err(`inferledger: pricing: ${err.message}; nothing was changed`);
      ctx.setExitCode(EXIT.usage);
      return;
    }
    for (const result of results) {
      const { text, ...json } = changeSummary(result);
      if (asJson) io.out(JSON.stringify(json));
      else text.forEach((line) => { io.out(line); });
    }
  };

  pricing
    .command('set')
    .description('set a version of a pool\'s card from --from (to --to, or open-ended); where versions overlap the newest holds the hour; restates exactly the months it touches')
    .requiredOption('--pool <id>', 'pool id, as requests and the bill\'s pool tag name it')
    .option('--per-gpu-hour <amount>', 'price per GPU-hour (x --gpus)')
    .option('--per-instance-hour <amount>', 'price per instance-hour (x --instances; GPUs = --instances x --gpus-per-instance)')
    .option('--per-slice-hour <amount>', 'price per MIG slice-hour (x --slices)')
    .option('--monthly <amount>', 'a fixed amount a month, spread exactly over the month\'s hours')
    .requiredOption('--currency <code>', 'ISO 4217 currency, the same as the pool\'s bill')
    .option('--gpus <n>', 'physical GPUs of the pool (for MIG: the GPUs the slices sit on)', positiveInt('--gpus'))
    .option('--instances <n>', 'instances, with --per-instance-hour', positiveInt('--instances'))
    .option('--gpus-per-instance <n>', 'GPUs per instance, with --instances', positiveInt('--gpus-per-instance'))
    .requiredOption('--from <iso>', 'first hour priced: a date or a date-time with a zone, on a whole hour')
    .option('--to <iso>', 'end of what is priced (exclusive); open-ended when left out')
    .option('--gpu-type <type>', 'GPU model, e.g. H100-80GB (needed with --mig)')
    .option('--mig <profile>', 'MIG profile of the slices, e.g. 1g.10gb: capacity = slices x its compute share')
    .option('--slices <n>', 'MIG slices in the pool, with --mig', positiveInt('--slices'))
    .option('--time-sliced', 'GPUs shared by time-slicing: capacity stays the physical GPUs')
    .option('--reason <text>', 'why: kept in the history and shown in reports')
    .option('--by <name>', 'who makes the change (default: the operating-system user)')
    .option('--json', 'print the change as one JSON object')
    .action(async ({ json, ...input }: SetFlags) => {
      await change(json === true, async (p, warehouse, config, now) => [await p.setRateCard(warehouse, config, dropUndefined(input), { now })]);
    });

  pricing
    .command('end')
    .description('end a pool\'s card from --at (to --to, or for good): a version with no price that holds those hours, e.g. a pool decommissioned or a card set on the wrong pool')
    .requiredOption('--pool <id>', 'the pool whose card ends')
    .requiredOption('--at <iso>', 'first hour no longer priced: a date or a date-time with a zone, on a whole hour')
    .option('--to <iso>', 'end of the unpriced span (exclusive); for good when left out')
    .option('--reason <text>', 'why: kept in the history')
    .option('--by <name>', 'who makes the change (default: the operating-system user)')
    .option('--json', 'print the change as one JSON object')
    .action(async ({ json, ...input }: { pool: string; at: string; to?: string; reason?: string; by?: string; json?: boolean }) => {
      await change(json === true, async (p, warehouse, config, now) => [await p.endRateCard(warehouse, config, dropUndefined(input), { now })]);
    });

  pricing
    .command('import <file>')
    .description('set many versions from a CSV file whose columns are set\'s flags without dashes (pool, per-gpu-hour, currency, gpus, from, to, reason, ...); every line is checked before any is applied')
    .option('--by <name>', 'who makes the changes, for lines without a by column (default: the operating-system user)')
    .option('--json', 'print the changes as JSON lines')
    .action(async (file: string, flags: { by?: string; json?: boolean }) => {
      const text = readFileSync(file, 'utf8');
      await change(flags.json === true, (p, warehouse, config, now) =>
        p.importRateCards(warehouse, config, text, { now, ...(flags.by === undefined ? {} : { by: flags.by }) }));
    });

  pricing
    .command('list')
    .description('the cards in effect per pool, or with --history every change: who, when, why, old -> new, and the hours and money it restated')
    .option('--pool <id>', 'only this pool')
    .option('--history', 'every change, oldest first')
    .option('--json', 'print the versions as JSON lines')
    .action(async (flags: { pool?: string; history?: boolean; json?: boolean }) => {
      const config = await ctx.config();
      const [{ withReader }, { readCards }, { cardLines, cardJson }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../pricing/pricing.js'), import('../../pricing/pricing-text.js'),
      ]);
      const cards = await withReader(config, io.err, (warehouse) => readCards(warehouse, flags.pool === undefined ? [] : [flags.pool]));
      if (cards.length === 0) {
        io.err(flags.pool === undefined ? 'no rate cards yet: `inferledger pricing set` adds one' : `pool ${flags.pool} has no rate card`);
        return;
      }
      if (flags.json === true) cards.forEach((c) => { io.out(JSON.stringify(cardJson(c))); });
      else cardLines(cards, flags.history === true, Date.now()).forEach((line) => { io.out(line); });
    });
}

function dropUndefined(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}
