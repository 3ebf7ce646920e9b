/** Runs `work` on every item, at most `concurrency` at a time; the first failure rejects (items under way still finish). */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  });
  await Promise.all(workers);
}

/** `work` applied to every item, at most `concurrency` at a time, results in the items' order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  await runPool(items, concurrency, async (item, index) => {
    out[index] = await work(item);
  });
  return out;
}
