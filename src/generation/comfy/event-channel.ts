// The stream `watch` hands out: the client pushes a prompt's events as frames and history arrive, and the
// consumer pulls them at its own pace through the async iterator protocol.

/** A push queue consumed as an async iterator. */
export class EventChannel<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private failure: { error: Error } | undefined;

  push(item: T, replaces?: (queued: T) => boolean): void {
    if (this.ended) return;
    if (replaces !== undefined) {
      // Keep only the newest of a kind (previews) when the consumer is behind: memory stays bounded.
      const i = this.items.findIndex(replaces);
      if (i >= 0) this.items.splice(i, 1);
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }
  end(): void {
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }
  fail(error: Error): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(error);
    }
  }
  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
}
