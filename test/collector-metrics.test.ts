/**
 * The metrics and health endpoint listens on loopback unless told otherwise,
 * and the URL it reports is the address it really bound.
 */
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { CollectorMetrics, serveMetrics } from '../src/collector/collector-metrics.js';
import { ConfigError, loadConfig } from '../src/config/config.js';

const healthy = () => ({ ok: true, detail: {} });

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { resolve(false); });
  });
}

const outsideAddress = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

describe('metrics endpoint address', () => {
  it('binds 127.0.0.1 by default and says so', async () => {
    const { port, url, server } = await serveMetrics(new CollectorMetrics(() => Promise.resolve([])), healthy, 0);
    try {
      expect(url).toBe(`http://127.0.0.1:${port}`);
      expect(await accepts('127.0.0.1', port)).toBe(true);
      // Reachable from the machine's other interfaces only when asked for.
      if (outsideAddress) expect(await accepts(outsideAddress, port)).toBe(false);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('binds every interface when configured to, and reports the address it bound', async () => {
    const { port, url, server } = await serveMetrics(new CollectorMetrics(() => Promise.resolve([])), healthy, 0, '0.0.0.0');
    try {
      expect(url).toBe(`http://0.0.0.0:${port}`);
      if (outsideAddress) expect(await accepts(outsideAddress, port)).toBe(true);
    } finally {
      server.close();
    }
  });

  it('is configured by service.collectorMetricsHost / INFERLEDGER_METRICS_HOST, loopback by default, and validated', () => {
    expect(loadConfig({ env: {} }).service.collectorMetricsHost).toBe('127.0.0.1');
    expect(loadConfig({ env: { INFERLEDGER_METRICS_HOST: '0.0.0.0' } }).service.collectorMetricsHost).toBe('0.0.0.0');
    expect(loadConfig({ env: { INFERLEDGER_METRICS_HOST: '::1' } }).service.collectorMetricsHost).toBe('::1');
    expect(() => loadConfig({ env: { INFERLEDGER_METRICS_HOST: 'not a host!' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { INFERLEDGER_METRICS_HOST: 'not a host!' } })).toThrow(/service\.collectorMetricsHost \(from env INFERLEDGER_METRICS_HOST\): must be an IP address or a host name/);
  });
});
