// The one write transaction of a layout: blobs go into a private staging folder, then, under the
// index lock, are published and named in index.json in one step; a failure discards the staging.
import type { Descriptor } from './descriptor.js';
import type { Digest } from './digest.js';
import { Layout, placeImage, tagMoves, type LockOptions, type TagMove } from './layout.js';
import type { BlobStore } from './store.js';

/** One image or index to name in index.json when the transaction commits. */
export interface Recorded {
  /** As index.json lists it (with its platform, for an image). */
  descriptor: Descriptor;
  /** Ref names; none: recorded untagged (unless index.json already has it). */
  tags: readonly string[];
}

export class LayoutTransaction {
  private done = false;

  private constructor(
    readonly layout: Layout,
    /** Where this run writes its blobs: read through to the layout's own store, invisible to others. */
    readonly staging: BlobStore,
    /** True when this transaction opened the layout by path, and so may remove a skeleton it made. */
    private readonly ownsLayout: boolean,
  ) {}

  /** Open (or create) the layout at `target` and start staging into it. */
  static async begin(target: string | Layout): Promise<LayoutTransaction> {
    const layout = typeof target === 'string' ? await Layout.openOrCreate(target) : target;
    try {
      return new LayoutTransaction(layout, await layout.store.stage(), typeof target === 'string');
    } catch (err) {
      if (typeof target === 'string') await layout.discardIfNew();
      throw err;
    }
  }

  /**
   * Publish the staged blobs (only `keep`'s, when given: what several builds staged but the images
   * do not use is dropped) and name each entry, in one update of index.json under the lock.
   * Returns the tags that left other images.
   */
  async commit(entries: readonly Recorded[], keep?: ReadonlySet<Digest>, lock: LockOptions = {}): Promise<TagMove[]> {
    if (this.done) throw new Error('LayoutTransaction: already finished');
    const moved: TagMove[] = [];
    await this.layout.updateIndex((index) => {
      // Inside the lock: the index as this update finds it says which tags really move.
      for (const e of entries) {
        moved.push(...tagMoves(index.manifests, e.descriptor.digest, e.tags));
        index.manifests = placeImage(index.manifests, e.descriptor, e.tags);
      }
      return index;
    }, { ...lock, publish: { store: this.staging, ...(keep ? { keep } : {}) } });
    this.done = true;
    return moved;
  }

  /** Drop what was staged; a layout this transaction created and left bare is removed. Safe after commit. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.staging.discard();
    if (this.ownsLayout) await this.layout.discardIfNew();
  }

  /** Run `work` in a transaction: committed by `work` itself; whatever it did not commit is discarded. */
  static async run<T>(target: string | Layout, work: (tx: LayoutTransaction) => Promise<T>): Promise<T> {
    const tx = await LayoutTransaction.begin(target);
    try {
      return await work(tx);
    } finally {
      await tx.abort();
    }
  }
}
