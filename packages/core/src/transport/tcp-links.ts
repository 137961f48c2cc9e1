// A ring socket's link state from the kernel's table of TCP connections (/proc/net/tcp and tcp6, of
// this process's network namespace): the connections of an inbox (accepted on its port) or of an
// outbox (to its peer's address) that are established, and how many established ones went away since
// the first look (a reset, or one the kernel closed: keepalive or TCP_USER_TIMEOUT, set on every ring
// socket). Read by the worker's link watch during an all-reduce. ZeroMQ's own means (heartbeats, a
// socket monitor) broke the transport here (native/zmq_links.h says how).
import { readFileSync } from 'node:fs';
import type { LinkState } from './transport';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
const ESTABLISHED = '01';

interface Conn {
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
}

/** '0100007F' → '127.0.0.1'; 32 hex digits → an IPv6 address in full form ('::ffff:' v4 mapped → v4). */
function ipOf(hex: string): string {
  if (hex.length === 8) return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  const words = [0, 8, 16, 24].map((i) =>
    hex
      .slice(i, i + 8)
      .match(/../g)!
      .reverse()
      .join(''),
  );
  const groups = words
    .join('')
    .match(/..../g)!
    .map((g) => parseInt(g, 16).toString(16));
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const v4 = words[3]!;
    return [0, 2, 4, 6].map((i) => parseInt(v4.slice(i, i + 2), 16)).join('.');
  }
  return groups.join(':');
}

/** Expands an IPv6 address to the form ipOf gives ('::1' → '0:0:0:0:0:0:0:1'); IPv4 as it is. */
function canonical(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => '0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16).toString(16)).join(':');
}

/** The established TCP connections of this network namespace; [] where there is no /proc. */
export function establishedConnections(
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Conn[] {
  const out: Conn[] = [];
  for (const table of TABLES) {
    let text: string;
    try {
      text = read(table);
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== ESTABLISHED) continue;
      const [lip, lport] = f[1]!.split(':') as [string, string];
      const [rip, rport] = f[2]!.split(':') as [string, string];
      out.push({
        local: ipOf(lip),
        localPort: parseInt(lport, 16),
        remote: ipOf(rip),
        remotePort: parseInt(rport, 16),
      });
    }
  }
  return out;
}

/**
 * The link state of a tcp:// inbox (bound at `address`) or outbox (connected to it), or undefined for
 * another scheme (ipc:// and inproc:// have no network to lose) or where /proc/net/tcp is not there.
 */
export function tcpLinks(
  address: string,
  side: 'inbox' | 'outbox',
  read?: (path: string) => string,
): (() => LinkState) | undefined {
  const m = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (m === null) return undefined;
  const host = canonical(m[1]!);
  const port = Number(m[2]);
  const wildcard = host === '0.0.0.0' || host === '*' || /^[0:]+$/.test(host);
  const mine = (c: Conn) =>
    side === 'inbox'
      ? c.localPort === port && (wildcard || c.local === host)
      : c.remotePort === port && c.remote === host;
  const key = (c: Conn) => `${c.local}:${c.localPort}>${c.remote}:${c.remotePort}`;
  let seen = new Set<string>();
  let drops = 0;
  return () => {
    const now = new Set(establishedConnections(read).filter(mine).map(key));
    for (const k of seen) if (!now.has(k)) drops++;
    seen = now;
    return { up: now.size, drops };
  };
}
