/**
 * A local Cost Explorer endpoint: the one fake in the project. It speaks the
 * real JSON 1.1 wire protocol of GetCostAndUsage (`X-Amz-Target:
 * AWSInsightsIndexService.GetCostAndUsage`, SigV4 headers accepted, errors as
 * `__type`), so the collector and the AWS SDK cannot tell it from AWS. It
 * serves cost lines from a fixture and honours granularity, time period,
 * GroupBy (TAG, DIMENSION), Filter, paging by NextPageToken; tests can make it
 * throttle, answer slowly, return bad pages, and restate data between calls.
 * Like AWS, it answers every time period asked for, an empty one with no
 * groups; periods from `estimatedFrom` on are Estimated, with or without data.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatScaled, toScaled } from '../util/decimal.js';
import { DAY_MS, dayStart, HOUR_MS, parseDate } from '../util/time.js';

/** One hourly cost line of the fixture. */
export interface CostLine {
  /** Start of the hour, epoch ms (UTC). */
  start: number;
  account: string;
  instanceType: string;
  service: string;
  region: string;
  tags: Record<string, string>;
  /** Amounts as decimal text, like the API. */
  amortized: string;
  unblended: string;
  usageQuantity: string;
  usageUnit: string;
  estimated: boolean;
}

export interface LocalEndpointOptions {
  /** Serve each caller only the lines of the account named by its access key id (multi-account tests). */
  accountPerAccessKey?: boolean;
  /** Groups per page (the real API decides its own; tests want small pages). */
  pageSize?: number;
  /** The endpoint's clock, for the 14-day limit of hourly data. */
  now?: () => number;
}

const METRICS: Record<string, ((l: CostLine) => string) | undefined> = {
  AmortizedCost: (l) => l.amortized,
  UnblendedCost: (l) => l.unblended,
  NetAmortizedCost: (l) => l.amortized,
  NetUnblendedCost: (l) => l.unblended,
  BlendedCost: (l) => l.unblended,
  UsageQuantity: (l) => l.usageQuantity,
};
const DIMENSIONS: Record<string, ((l: CostLine) => string) | undefined> = {
  INSTANCE_TYPE: (l) => l.instanceType || 'NoInstanceType',
  LINKED_ACCOUNT: (l) => l.account,
  SERVICE: (l) => l.service,
  REGION: (l) => l.region,
};

class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

interface Expression {
  And?: Expression[];
  Or?: Expression[];
  Not?: Expression;
  Dimensions?: { Key: string; Values: string[] };
  Tags?: { Key: string; Values?: string[]; MatchOptions?: string[] };
}

interface GroupDefinition {
  Type: 'TAG' | 'DIMENSION' | 'COST_CATEGORY';
  Key: string;
}

interface Request {
  TimePeriod?: { Start?: string; End?: string };
  Granularity?: string;
  Metrics?: string[];
  GroupBy?: GroupDefinition[];
  Filter?: Expression;
  NextPageToken?: string;
}

function matches(line: CostLine, e: Expression): boolean {
  if (e.And) return e.And.every((x) => matches(line, x));
  if (e.Or) return e.Or.some((x) => matches(line, x));
  if (e.Not) return !matches(line, e.Not);
  if (e.Dimensions) {
    const get = DIMENSIONS[e.Dimensions.Key];
    if (!get) throw new ApiError('ValidationException', `Unsupported dimension ${e.Dimensions.Key}`);
    return e.Dimensions.Values.includes(get(line));
  }
  if (e.Tags) {
    const value = line.tags[e.Tags.Key];
    if (e.Tags.MatchOptions?.includes('ABSENT')) return value === undefined;
    return value !== undefined && (e.Tags.Values === undefined || e.Tags.Values.length === 0 || e.Tags.Values.includes(value));
  }
  return true;
}

function parseBoundary(text: string | undefined, field: string): number {
  const ms = text && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$/.test(text) ? (text.length === 10 ? parseDate(text) : Date.parse(text)) : NaN;
  if (!Number.isFinite(ms)) throw new ApiError('ValidationException', `Invalid ${field}: ${String(text)}`);
  return ms;
}

function formatBoundary(ms: number, hourly: boolean): string {
  const iso = new Date(ms).toISOString();
  return hourly ? `${iso.slice(0, 19)}Z` : iso.slice(0, 10);
}

export class LocalCostExplorer {
  lines: CostLine[] = [];
  /** Every request received, for assertions. */
  readonly requests: Request[] = [];
  /** Fail the next N calls with LimitExceededException. */
  throttleNext = 0;
  /** Answer the next N calls this many ms late. */
  delayNextMs = 0;
  delayNext = 0;
  /** Misbehaviours, for bad-input tests. */
  repeatToken = false;
  badAmount = false;
  /** Amount every group reports instead of its sum, e.g. '1E100' (bad-input tests). */
  amountOverride: string | undefined;
  /** Periods starting at or after this instant are Estimated (data not final yet, maybe none). */
  estimatedFrom: number | undefined;
  private server: Server | undefined;
  private readonly pageSize: number;
  private readonly now: () => number;
  private readonly accountPerAccessKey: boolean;

  constructor(lines: CostLine[] = [], options: LocalEndpointOptions = {}) {
    this.lines = lines;
    this.pageSize = options.pageSize ?? 500;
    this.now = options.now ?? Date.now;
    this.accountPerAccessKey = options.accountPerAccessKey ?? false;
  }

  /** Change the data between calls: amounts restated, Estimated flipped. */
  restate(change: (line: CostLine) => CostLine): void {
    this.lines = this.lines.map(change);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((ok) => this.server?.listen(port, host, ok));
    const address = this.server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => { ok(); }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const reply = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `local-${this.requests.length}` });
      res.end(JSON.stringify(payload));
    };
    try {
      if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'AWSInsightsIndexService.GetCostAndUsage') {
        throw new ApiError('UnknownOperationException', `Unsupported target ${String(req.headers['x-amz-target'])}`);
      }
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('AWS4-HMAC-SHA256')) throw new ApiError('MissingAuthenticationTokenException', 'Missing SigV4 authorization', 403);
      if (auth.includes('Credential=EXPIRED')) throw new ApiError('ExpiredTokenException', 'The security token included in the request is expired');
      const request = JSON.parse(body) as Request;
      this.requests.push(request);
      if (this.delayNext > 0) {
        this.delayNext--;
        await new Promise((ok) => setTimeout(ok, this.delayNextMs));
      }
      if (this.throttleNext > 0) {
        this.throttleNext--;
        throw new ApiError('LimitExceededException', 'Rate exceeded');
      }
      const accessKey = /Credential=([^/]+)\//.exec(auth)?.[1] ?? '';
      reply(200, this.getCostAndUsage(request, this.accountPerAccessKey ? accessKey : undefined));
    } catch (err) {
      if (err instanceof ApiError) reply(err.status, { __type: err.type, message: err.message });
      else reply(500, { __type: 'InternalServerError', message: (err as Error).message });
    }
  }

  private getCostAndUsage(request: Request, account: string | undefined): unknown {
    const granularity = request.Granularity ?? 'DAILY';
    if (granularity !== 'HOURLY' && granularity !== 'DAILY') throw new ApiError('ValidationException', `Unsupported granularity ${granularity}`);
    const hourly = granularity === 'HOURLY';
    const start = parseBoundary(request.TimePeriod?.Start, 'TimePeriod.Start');
    const end = parseBoundary(request.TimePeriod?.End, 'TimePeriod.End');
    if (end <= start) throw new ApiError('ValidationException', 'Start date must be before end date');
    if (hourly && start < dayStart(this.now()) - 14 * DAY_MS) {
      throw new ApiError('DataUnavailableException', 'Hourly data is available for the last 14 days only');
    }
    const metrics = request.Metrics ?? [];
    if (metrics.length === 0) throw new ApiError('ValidationException', 'Metrics must not be empty');
    for (const m of metrics) if (!METRICS[m]) throw new ApiError('ValidationException', `Unsupported metric ${m}`);
    const groupBy = request.GroupBy ?? [];
    if (groupBy.length > 2) throw new ApiError('ValidationException', 'You can group by at most two keys');
    const keyOf = groupBy.map((g) => {
      if (g.Type === 'TAG') return (l: CostLine) => `${g.Key}$${l.tags[g.Key] ?? ''}`;
      const get = DIMENSIONS[g.Key];
      if (g.Type !== 'DIMENSION' || !get) throw new ApiError('ValidationException', `Unsupported group ${g.Type}:${g.Key}`);
      return get;
    });

    // Buckets in time order, each with its groups in key order.
    const step = hourly ? HOUR_MS : DAY_MS;
    const buckets: { start: number; estimated: boolean; groups: Map<string, { keys: string[]; sums: Map<string, bigint>; units: Set<string> }> }[] = [];
    for (let t = start; t < end; t += step) buckets.push({ start: t, estimated: this.estimatedFrom !== undefined && t >= this.estimatedFrom, groups: new Map() });
    for (const line of this.lines) {
      if (line.start < start || line.start >= end || (request.Filter && !matches(line, request.Filter))) continue;
      if (account !== undefined && line.account !== account) continue;
      const bucket = buckets[Math.floor((line.start - start) / step)];
      if (!bucket) continue;
      bucket.estimated ||= line.estimated;
      const keys = keyOf.map((k) => k(line));
      const id = JSON.stringify(keys);
      let group = bucket.groups.get(id);
      if (!group) bucket.groups.set(id, (group = { keys, sums: new Map(), units: new Set() }));
      for (const m of metrics) group.sums.set(m, (group.sums.get(m) ?? 0n) + toScaled(METRICS[m]?.(line) ?? '0'));
      group.units.add(line.usageUnit);
    }
    // A period without groups still takes its place (and a slot of its page), as an empty result.
    type Group = (typeof buckets)[number]['groups'] extends Map<string, infer G> ? G : never;
    const flat = buckets.flatMap((b, bi): { bi: number; g: Group | undefined }[] => {
      const groups = [...b.groups.values()].sort((x, y) => (x.keys.join() < y.keys.join() ? -1 : 1)).map((g) => ({ bi, g }));
      return groups.length > 0 ? groups : [{ bi, g: undefined }];
    });
    const offset = request.NextPageToken ? Number(Buffer.from(request.NextPageToken, 'base64').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > flat.length) throw new ApiError('InvalidNextTokenException', 'The pagination token is invalid');
    const page = flat.slice(offset, offset + this.pageSize);
    const next = offset + page.length < flat.length ? Buffer.from(String(this.repeatToken ? this.pageSize : offset + page.length)).toString('base64') : undefined;

    const results = new Map<number, { TimePeriod: { Start: string; End: string }; Total: object; Groups: unknown[]; Estimated: boolean }>();
    for (const { bi, g } of page) {
      const bucket = buckets[bi];
      if (!bucket) continue;
      let result = results.get(bi);
      if (!result) {
        result = { TimePeriod: { Start: formatBoundary(bucket.start, hourly), End: formatBoundary(bucket.start + step, hourly) }, Total: {}, Groups: [], Estimated: bucket.estimated };
        results.set(bi, result);
      }
      if (!g) continue;
      const usageUnit = g.units.size === 1 ? [...g.units][0] ?? 'N/A' : 'N/A';
      result.Groups.push({
        Keys: g.keys,
        Metrics: Object.fromEntries(metrics.map((m) => [m, {
          Amount: this.badAmount ? 'abc' : this.amountOverride ?? formatScaled(g.sums.get(m) ?? 0n),
          Unit: m === 'UsageQuantity' ? usageUnit : 'USD',
        }])),
      });
    }
    return {
      ResultsByTime: [...results.values()],
      GroupDefinitions: groupBy,
      DimensionValueAttributes: [],
      ...(next ? { NextPageToken: next } : {}),
    };
  }
}
