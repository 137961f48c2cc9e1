// The address of this host's interface that routes to a given host: where a worker's data-plane
// inbox should listen so that its ring neighbours (which reach the coordinator the same way) can
// connect, without listening on every interface. A UDP "connect" sends no packet.
import { createSocket } from 'node:dgram';

export function localAddressTowards(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.on('error', (e) => {
      s.close();
      reject(e);
    });
    s.connect(port, host, () => {
      const { address } = s.address();
      s.close();
      resolve(address);
    });
  });
}
