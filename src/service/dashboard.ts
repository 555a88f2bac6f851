/**
 * The queue dashboard of `inferledger run --dashboard-port`: bull-board over
 * every queue the job registry uses, on its own port (it can retry, promote
 * and delete jobs, so it listens on loopback unless asked otherwise).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';

export interface DashboardOptions {
  queues: readonly Queue[];
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface Dashboard {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'inferledger jobs' } },
  });
  adapter.setBasePath('/');
  const app = new Hono();
  app.route('/', adapter.registerPlugin());
  const listener = getRequestListener(app.fetch);
  const server: Server = createServer((req, res) => { void listener(req, res); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve(); });
  });
  return {
    host: options.host,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => { resolve(); });
      server.closeAllConnections();
    }),
  };
}
