// A process without the run key that attacks a run: for every address given it connects a ZeroMQ
// client without CURVE, one with a key pair of its own (from another key file), one that presents its
// own key pair with the run's public key as the server key (the ZAP handler's case), and a raw TCP
// socket; each sends garbage. It reports what it saw from its side, one JSON line per run:
// {"addresses":[{"address","connected","handshakes","refused","raw_closed"}]}: TCP connections made,
// ZMTP handshakes that succeeded (0 if the run is safe), handshakes the peer failed or dropped, and
// whether the peer closed the raw socket. Usage:
//   node --import tsx test/support/intruder.ts RUN_PUBLIC_KEY tcp://HOST:PORT...
import { connect } from 'node:net';
import { Dealer, Push, curveKeyPair } from 'zeromq';

const [runPublicKey, ...addresses] = process.argv.slice(2);
const garbage = [Buffer.from('{"v":2,"type":"join","version":"evil"}'), Buffer.alloc(1024, 0xab)];
const sockets: (Dealer | Push)[] = [];

interface Seen {
  address: string;
  connected: number;
  handshakes: number;
  refused: number;
  raw_closed: boolean;
}
const report: Seen[] = [];

for (const address of addresses) {
  const seen: Seen = { address, connected: 0, handshakes: 0, refused: 0, raw_closed: false };
  report.push(seen);
  const own = curveKeyPair();
  const kinds = [
    {},
    { curveServerKey: own.publicKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey },
    { curveServerKey: runPublicKey!, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey },
  ];
  for (const options of kinds) {
    // Reconnect rarely: each socket's first connection is what is counted.
    for (const s of [
      new Dealer({ linger: 0, reconnectInterval: 10_000, ...options }),
      new Push({ linger: 0, sendTimeout: 0, reconnectInterval: 10_000, ...options }),
    ]) {
      s.events.on('connect', () => seen.connected++);
      s.events.on('handshake', () => seen.handshakes++);
      // A mechanism mismatch or a ZAP refusal is reported; a CURVE hello the server cannot open is
      // dropped without a word: the connection closes before any handshake.
      for (const e of [
        'handshake:error:protocol',
        'handshake:error:auth',
        'handshake:error:other',
        'disconnect',
      ] as const)
        s.events.on(e, () => seen.refused++);
      s.connect(address);
      sockets.push(s);
      void s.send(garbage).catch(() => undefined);
    }
  }
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(address)!;
  const raw = connect(Number(port), host!, () => raw.write(Buffer.alloc(4096, 0x5a)));
  raw.on('close', () => (seen.raw_closed = true));
  raw.on('error', () => undefined);
  setTimeout(() => raw.destroy(), 1500).unref();
}

await new Promise((r) => setTimeout(r, 1500));
for (const s of sockets) s.close();
process.stdout.write(`${JSON.stringify({ addresses: report })}\n`);
