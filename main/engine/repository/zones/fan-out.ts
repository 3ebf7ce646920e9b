import type { Readable, Writable } from 'node:stream';

/**
 * Copies one source stream into several sinks, paced by the slowest live sink. A sink that
 * fails is dropped: it no longer counts for pacing, so a dead sink whose 'drain' never comes
 * cannot stall the others. A source error destroys every live sink with that error.
 */
export class FanOut {
  private readonly live = new Set<Writable>();
  private readonly waiting = new Set<Writable>();
  private finished = false;

  constructor(
    private readonly source: Readable,
    sinks: Writable[],
  ) {
    for (const sink of sinks) {
      this.live.add(sink);
      sink.on('drain', () => this.onDrain(sink));
      // the zone that read this sink may have stopped listening already
      sink.on('error', () => {});
      sink.on('close', () => this.drop(sink));
    }
    source.on('data', this.onData);
    source.once('end', this.onEnd);
    source.once('error', this.onError);
  }

  /** Stops feeding `sink` and destroys it; when no sink is left, the source is released. */
  drop(sink: Writable, err?: Error): void {
    if (!this.live.delete(sink)) return;
    this.waiting.delete(sink);
    if (!sink.destroyed) sink.destroy(err);
    if (this.live.size === 0) this.release();
    else this.resumeIfNoneWaiting();
  }

  /** Ends the fan-out early: every live sink is destroyed with `err`. */
  abort(err: Error): void {
    for (const sink of [...this.live]) this.drop(sink, err);
  }

  private readonly onData = (chunk: unknown): void => {
    for (const sink of this.live) {
      if (!sink.write(chunk)) this.waiting.add(sink);
    }
    if (this.waiting.size > 0) this.source.pause();
  };

  private onDrain(sink: Writable): void {
    this.waiting.delete(sink);
    this.resumeIfNoneWaiting();
  }

  private resumeIfNoneWaiting(): void {
    if (!this.finished && this.waiting.size === 0) this.source.resume();
  }

  private readonly onEnd = (): void => {
    this.finished = true;
    this.detach();
    for (const sink of this.live) sink.end();
  };

  private readonly onError = (err: Error): void => {
    this.finished = true;
    this.detach();
    this.abort(err);
  };

  /** Nobody reads the source any more: stop pulling from it and let the caller's error flow. */
  private release(): void {
    if (this.finished) return;
    this.finished = true;
    this.detach();
    this.source.pause();
  }

  private detach(): void {
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.off('error', this.onError);
    // keep a listener so a late source error is not unhandled once we stopped caring
    this.source.on('error', () => {});
  }
}
