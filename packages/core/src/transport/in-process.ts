// InProcessTransport: the Transport contract in memory, for unit tests and single-process runs.
// Addresses are 'inproc://name' ('inproc://*' picks a fresh name), scoped to one transport instance.
// Frames are copied on send, like ZeroMQ, so senders may reuse their buffers. As with ZeroMQ, an
// outbox or client may connect before the address is bound: messages wait for the binder.
import { DdpError } from '../errors';
import { Mailbox } from './mailbox';
import { checkTimeout, closedError, recvTimeoutError } from './transport-errors';
import type { Client, Frames, Inbox, Outbox, Server, Transport } from './transport';

interface Delivery {
  peer: string;
  frames: Frames;
}

interface Endpoint {
  /** Undefined until something binds the address (senders may come first). */
  kind: 'inbox' | 'server' | undefined;
  mailbox: Mailbox<Delivery>;
}

const SCHEME = 'inproc://';

function copyFrames(frames: Frames): Frames {
  return frames.map((f) => new Uint8Array(f));
}

export class InProcessTransport implements Transport {
  readonly name = 'inproc';
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly clients = new Map<string, { server: string; mailbox: Mailbox<Frames> }>();
  private nextId = 1;

  /** @throws DdpError E_CONFIG for a non-inproc address or one already bound */
  async inbox(address: string): Promise<Inbox> {
    const addr = this.bind(address, 'inbox');
    const { mailbox } = this.endpoints.get(addr)!;
    return {
      address: addr,
      recv: async (timeoutMs) => {
        checkTimeout(timeoutMs, 'inbox recv');
        const d = await mailbox.take(timeoutMs, () => recvTimeoutError('inbox', addr, timeoutMs));
        return d.frames;
      },
      close: async () => this.unbind(addr, 'inbox'),
    };
  }

  /** @throws DdpError E_CONFIG for a non-inproc address */
  async outbox(address: string): Promise<Outbox> {
    this.checkScheme(address);
    let closed = false;
    return {
      send: async (frames) => {
        if (closed) throw closedError('outbox to', address);
        this.deliver(address, 'inbox', { peer: '', frames: copyFrames(frames) });
      },
      close: async () => {
        closed = true;
      },
    };
  }

  /** @throws DdpError E_CONFIG for a non-inproc address or one already bound */
  async server(address: string): Promise<Server> {
    const addr = this.bind(address, 'server');
    const { mailbox } = this.endpoints.get(addr)!;
    return {
      address: addr,
      recv: (timeoutMs) => {
        checkTimeout(timeoutMs, 'server recv');
        return mailbox.take(timeoutMs, () => recvTimeoutError('server', addr, timeoutMs));
      },
      send: async (peer, frames) => {
        if (mailbox.closed) throw closedError('server', addr);
        const client = this.clients.get(peer);
        if (!client || client.server !== addr) {
          throw new DdpError(
            'E_CLOSED',
            `peer '${peer}' is not connected to server ${addr}`,
            'the worker has gone; check its logs',
          );
        }
        client.mailbox.put(copyFrames(frames));
      },
      close: async () => this.unbind(addr, 'server'),
    };
  }

  /** @throws DdpError E_CONFIG for a non-inproc address */
  async client(address: string): Promise<Client> {
    this.checkScheme(address);
    const peer = `client-${this.nextId++}`;
    const mailbox = new Mailbox<Frames>();
    this.clients.set(peer, { server: address, mailbox });
    return {
      send: async (frames) => {
        if (mailbox.closed) throw closedError('client of', address);
        this.deliver(address, 'server', { peer, frames: copyFrames(frames) });
      },
      recv: (timeoutMs) => {
        checkTimeout(timeoutMs, 'client recv');
        return mailbox.take(timeoutMs, () => recvTimeoutError('client of', address, timeoutMs));
      },
      close: async () => {
        mailbox.close(() => closedError('client of', address));
        this.clients.delete(peer);
      },
    };
  }

  private checkScheme(address: string): void {
    if (!address.startsWith(SCHEME) || address.length === SCHEME.length) {
      throw new DdpError(
        'E_CONFIG',
        `address '${address}' is not an in-process address`,
        `use ${SCHEME}<name>`,
      );
    }
  }

  private bind(address: string, kind: 'inbox' | 'server'): string {
    this.checkScheme(address);
    const addr = address === `${SCHEME}*` ? `${SCHEME}ephemeral-${this.nextId++}` : address;
    const existing = this.endpoints.get(addr);
    if (existing?.kind !== undefined) {
      throw new DdpError(
        'E_CONFIG',
        `${addr} is already bound by a ${existing.kind}`,
        `use another name or ${SCHEME}*`,
      );
    }
    if (existing) existing.kind = kind;
    else this.endpoints.set(addr, { kind, mailbox: new Mailbox() });
    return addr;
  }

  private unbind(address: string, what: string): void {
    const ep = this.endpoints.get(address);
    if (!ep) return;
    ep.mailbox.close(() => closedError(what, address));
    this.endpoints.delete(address);
  }

  private deliver(address: string, kind: 'inbox' | 'server', d: Delivery): void {
    let ep = this.endpoints.get(address);
    if (!ep) {
      ep = { kind: undefined, mailbox: new Mailbox() };
      this.endpoints.set(address, ep);
    }
    if (ep.kind !== undefined && ep.kind !== kind) {
      throw new DdpError(
        'E_CONFIG',
        `${address} is bound by a ${ep.kind}, not a ${kind}`,
        'connect outboxes to inboxes and clients to servers',
      );
    }
    ep.mailbox.put(d);
  }
}
