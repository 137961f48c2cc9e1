// Runs asynchronous operations one at a time, in call order: how serial-socket.ts keeps zeromq.js to
// one pending receive and one pending send, and native-data-plane.ts one operation per libzmq socket.

export class InOrder {
  private tail: Promise<unknown> = Promise.resolve();

  /** Starts `op` once every earlier one has settled (a failed one does not stop the next). */
  run<T>(op: () => Promise<T>): Promise<T> {
    const p = this.tail.then(op, op);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
