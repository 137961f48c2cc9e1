// A process without the run key that attacks a run: for every address given it connects a ZeroMQ
// client without CURVE, one with a key pair of its own (from another key file), one that presents its
// own key pair with the run's public key as the server key (the ZAP handler's case), and a raw TCP
// socket; each sends garbage. Prints one JSON line, {"attempts": N} per address, and exits.
// Usage: node --import tsx test/support/intruder.ts RUN_PUBLIC_KEY tcp://HOST:PORT...
import { connect } from 'node:net';
import { Dealer, Push, curveKeyPair } from 'zeromq';

const [runPublicKey, ...addresses] = process.argv.slice(2);
const garbage = [Buffer.from('{"v":2,"type":"join","version":"evil"}'), Buffer.alloc(1024, 0xab)];
const sockets: (Dealer | Push)[] = [];

for (const address of addresses) {
  const own = curveKeyPair();
  const kinds = [{}, { curveServerKey: own.publicKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }, { curveServerKey: runPublicKey!, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }];
  for (const options of kinds) {
    for (const s of [new Dealer({ linger: 0, ...options }), new Push({ linger: 0, sendTimeout: 0, ...options })]) {
      s.connect(address);
      sockets.push(s);
      void s.send(garbage).catch(() => undefined);
    }
  }
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(address)!;
  const raw = connect(Number(port), host!, () => raw.end(Buffer.alloc(4096, 0x5a)));
  raw.on('error', () => undefined);
}

await new Promise((r) => setTimeout(r, 1500));
for (const s of sockets) s.close();
process.stdout.write(`${JSON.stringify({ attempts: 7, addresses })}\n`);
