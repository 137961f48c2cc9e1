// Test helper: a node:http server on 127.0.0.1 serving fixed bodies, optionally breaking a response
// off mid-body. Download tests use it; nothing in tests touches the real network. Not exported.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How to answer one path. */
export type Route = { body: Uint8Array; cutAfter?: number } | { status: number };

/** A running fixture server. */
export interface FixtureServer {
  /** `http://127.0.0.1:<port>/` */
  baseUrl: string;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `routes` (keyed by path, e.g. '/train-images-idx3-ubyte.gz'); unknown paths get 404. */
export async function serveFixtures(routes: Record<string, Route>): Promise<FixtureServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    const route = routes[path] ?? { status: 404 };
    if ('status' in route) {
      res.writeHead(route.status).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': route.body.length });
    if (route.cutAfter === undefined) {
      res.end(route.body);
      return;
    }
    // Promise a full body, send part of it, then drop the connection.
    res.write(route.body.subarray(0, route.cutAfter), () => res.socket?.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** A base URL on 127.0.0.1 where nothing listens (connection refused, like a machine offline). */
export async function deadBaseUrl(): Promise<string> {
  const s = await serveFixtures({});
  await s.close();
  return s.baseUrl;
}
