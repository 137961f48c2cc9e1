// Mailbox: an in-memory FIFO whose take() waits with a timeout; close() wakes every waiter. The
// queue behind each in-process endpoint (in-process.ts).

interface Waiter<T> {
  resolve: (item: T) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Mailbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private closedWith: (() => Error) | undefined;

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Hands `item` to the oldest waiter, or queues it. Items put after close() are dropped. */
  put(item: T): void {
    if (this.closedWith) return;
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  /** Oldest item; rejects with onTimeout() after timeoutMs, or with the close error. */
  take(timeoutMs: number, onTimeout: () => Error): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.closedWith) return Promise.reject(this.closedWith());
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(onTimeout());
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Drops queued items and rejects current and future takers with error(). */
  close(error: () => Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.items.length = 0;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error());
    }
  }
}
