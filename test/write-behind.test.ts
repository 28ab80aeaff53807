// A file flushed while it is written: one background fdatasync per `every` bytes, never two at
// once, and the final fsync still made, after them, carrying a background flush's error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WriteBehind } from '../src/write-behind.js';

/** A handle whose flushes finish when the test says so, recording what was asked of it. */
function fakeHandle(fail?: Error) {
  const calls: string[] = [];
  const pending: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const flush = (name: string) => () => {
    calls.push(name);
    // The final fsync finishes at once: only the background flushes are held.
    if (name === 'sync') return Promise.resolve();
    running++;
    most = Math.max(most, running);
    return new Promise<void>((resolve, reject) => {
      pending.push(() => {
        running--;
        if (fail && name === 'datasync') reject(fail);
        else resolve();
      });
    });
  };
  return {
    handle: { datasync: flush('datasync'), sync: flush('sync') },
    calls,
    finishAll: async () => {
      while (pending.length > 0) pending.shift()!();
      await new Promise((r) => setImmediate(r));
    },
    most: () => most,
  };
}

test('a background flush starts each time `every` more bytes are written, never two at once', async () => {
  const fake = fakeHandle();
  const behind = new WriteBehind(fake.handle, 10);
  behind.wrote(6);
  assert.deepEqual(fake.calls, []);
  behind.wrote(6);
  assert.deepEqual(fake.calls, ['datasync']);
  // 24 more bytes while that one runs: no second flush until it is done.
  behind.wrote(12);
  behind.wrote(12);
  assert.deepEqual(fake.calls, ['datasync']);
  await fake.finishAll();
  // What was written meanwhile is still dirty: the next write starts a flush for it.
  behind.wrote(1);
  assert.deepEqual(fake.calls, ['datasync', 'datasync']);
  await fake.finishAll();
  behind.wrote(9);
  assert.deepEqual(fake.calls, ['datasync', 'datasync']);
  behind.wrote(1);
  assert.deepEqual(fake.calls, ['datasync', 'datasync', 'datasync']);
  const done = behind.sync();
  // The final fsync waits for the flush running.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(fake.calls, ['datasync', 'datasync', 'datasync']);
  await fake.finishAll();
  await done;
  assert.deepEqual(fake.calls, ['datasync', 'datasync', 'datasync', 'sync']);
  assert.equal(fake.most(), 1);
});

test("a background flush's error fails the final sync, which then does not report success", async () => {
  const fake = fakeHandle(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  const behind = new WriteBehind(fake.handle, 10);
  behind.wrote(10);
  await fake.finishAll();
  await assert.rejects(behind.sync(), /EIO/);
  assert.deepEqual(fake.calls, ['datasync']);
});

test('with less than `every` bytes written, only the final fsync is made', async () => {
  const fake = fakeHandle();
  const behind = new WriteBehind(fake.handle, 10);
  behind.wrote(9);
  await behind.sync();
  assert.deepEqual(fake.calls, ['sync']);
});
