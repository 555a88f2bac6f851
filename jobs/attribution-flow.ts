/**
 * The attribution flow: one attribute-day child per owed day, under one
 * rollups parent that runs once every child has. Days already queued (in any
 * state) are left out, so overlapping ticks never compute a day twice.
 */
import { JOBS } from '../src/scheduler/contract.js';
import type { FlowJob, JobContext } from '../src/scheduler/job.js';
import { DAY_MS, parseDate } from '../src/util/time.js';

/** Days from 1970 to 2000: priorities count days since 2000, so they stay small and positive. */
const EPOCH_2000_DAYS = 10_957;

export interface OwedDay {
  day: string;
  inputVersion: string;
  force: boolean;
  /** The attribute-day job id: day and input version, so a day with unchanged inputs is not queued twice. */
  id: string;
}

/** Enqueue the days not already queued, oldest first, under a rollups parent; returns how many were added. */
export async function enqueueAttributionDays(ctx: Pick<JobContext, 'enqueue'>, days: readonly OwedDay[], parentId: string): Promise<number> {
  const children: FlowJob[] = days.map((d) => ({
    name: JOBS.attributeDay,
    id: d.id,
    data: { day: d.day, inputVersion: d.inputVersion, force: d.force },
    // Oldest first: a lower priority number runs earlier, and days since 2000 grow with the day.
    priority: Math.max(1, parseDate(d.day) / DAY_MS - EPOCH_2000_DAYS),
  }));
  const fresh: FlowJob[] = [];
  for (const child of children) if (await ctx.enqueue.isNew(child)) fresh.push(child);
  if (fresh.length === 0) return 0;
  await ctx.enqueue.flow({ name: JOBS.rollups, id: parentId, data: { days: fresh.map((c) => c.data['day']) } }, fresh);
  return fresh.length;
}
