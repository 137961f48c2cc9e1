import { describe, expect, it } from 'vitest';
import { establishedConnections, tcpLinks } from './tcp-links';

const HEAD =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
/** A /proc/net/tcp line: local and remote as 'hex:hexport', state. */
const row = (local: string, remote: string, st: string) =>
  `   0: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n`;

describe("tcpLinks: a ring socket's links from the kernel's connection table", () => {
  it('reads IPv4 and v4-mapped IPv6 rows, established ones only', () => {
    const tables: Record<string, string> = {
      '/proc/net/tcp':
        HEAD + row('0200E70A:9C40', '0300E70A:D431', '01') + row('0200E70A:9C40', '00000000:0000', '0A'),
      '/proc/net/tcp6':
        HEAD + row('0000000000000000FFFF00000200E70A:9C41', '0000000000000000FFFF00000300E70A:D432', '01'),
    };
    expect(establishedConnections((p) => tables[p]!)).toEqual([
      { local: '10.231.0.2', localPort: 40000, remote: '10.231.0.3', remotePort: 54321 },
      { local: '10.231.0.2', localPort: 40001, remote: '10.231.0.3', remotePort: 54322 },
    ]);
  });

  it("counts an inbox's accepted connections and the ones that went away", () => {
    let tcp = HEAD + row('0200E70A:9C40', '0300E70A:D431', '01');
    const links = tcpLinks('tcp://10.231.0.2:40000', 'inbox', (p) => (p.endsWith('6') ? HEAD : tcp))!;
    expect(links()).toEqual({ up: 1, drops: 0 });
    tcp = HEAD; // reset: gone
    expect(links()).toEqual({ up: 0, drops: 1 });
    tcp = HEAD + row('0200E70A:9C40', '0300E70A:D499', '01'); // the neighbour reconnected, from another port
    expect(links()).toEqual({ up: 1, drops: 1 });
  });

  it("follows an outbox's connection to its peer, a reconnection included", () => {
    let tcp =
      HEAD + row('0300E70A:D431', '0200E70A:9C40', '01') + row('0300E70A:D400', '0200E70A:1F90', '01');
    const links = tcpLinks('tcp://10.231.0.2:40000', 'outbox', (p) => (p.endsWith('6') ? HEAD : tcp))!;
    expect(links()).toEqual({ up: 1, drops: 0 });
    tcp = HEAD + row('0300E70A:D432', '0200E70A:9C40', '01');
    expect(links()).toEqual({ up: 1, drops: 1 });
  });

  it('watches nothing for ipc:// and inproc:// (no network to lose)', () => {
    expect(tcpLinks('ipc:///tmp/x', 'inbox')).toBeUndefined();
    expect(tcpLinks('inproc://x', 'outbox')).toBeUndefined();
  });
});
