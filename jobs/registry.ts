/** Every job the service knows, in one list: the scheduler upserts the scheduled ones, a worker serves all. */
import type { JobDefinition } from '../src/scheduler/job.js';
import { alertsEvaluateJob } from './alerts-evaluate.job.js';
import { attributeDayJob } from './attribute-day.job.js';
import { attributeJob } from './attribute.job.js';
import { backupJob } from './backup.job.js';
import { billingPullJob } from './billing-pull.job.js';
import { reportChargebackJob } from './report-chargeback.job.js';
import { retentionJob } from './retention.job.js';
import { rollupsJob } from './rollups.job.js';

export const JOB_REGISTRY: readonly JobDefinition[] = [billingPullJob, attributeJob, attributeDayJob, rollupsJob, alertsEvaluateJob, reportChargebackJob, backupJob, retentionJob] as JobDefinition[];
