/**
 * A Slack-like webhook receiver on a real local HTTP server (a peer, not one
 * of our engines): it fails the first `failures` requests with 503 (and as
 * many more as failNext asks for) and shows each dedupe key once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { key: string | undefined; body: { dedupe_key?: string; text?: string } }

export interface Receiver {
  server: Server;
  /** With user-info and a secret-looking path, to check neither is ever printed. */
  url: string;
  received: Received[];
  /** Text shown per dedupe key, in the order first shown. */
  shown: Map<string, string>;
  /** Fail the next `n` requests too. */
  failNext: (n: number) => void;
  close: () => Promise<void>;
}

export async function receiver(failures: number): Promise<Receiver> {
  const received: Received[] = [];
  const shown = new Map<string, string>();
  let toFail = failures;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const parsed = JSON.parse(body) as Received['body'];
      const key = req.headers['idempotency-key'];
      received.push({ key: typeof key === 'string' ? key : undefined, body: parsed });
      if (toFail > 0) {
        toFail--;
        res.writeHead(503).end('busy');
        return;
      }
      if (parsed.dedupe_key && !shown.has(parsed.dedupe_key)) shown.set(parsed.dedupe_key, parsed.text ?? '');
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    server, received, shown,
    url: `http://user:secret@127.0.0.1:${port}/services/T000/B000/XXXXSECRET`,
    failNext: (n) => { toFail += n; },
    close: () => new Promise<void>((ok, fail) => {
      server.close((err) => {
        if (err) fail(err);
        else ok();
      });
    }),
  };
}
