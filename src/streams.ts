// Two small things every reader of input needs: the first bytes of a stream without losing them,
// a stream read whole under a size limit (for documents, never for layers), and a byte counter.
import { Readable, Transform } from 'node:stream';
import { UserError } from './errors.js';

/**
 * The first bytes of a stream (at least n, unless it is shorter) and the stream to read from the
 * start: `input` with the head put back, or, when the head was all there was (a stream that has
 * ended cannot take bytes back), a stream of the head alone.
 */
export async function peekHead(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      have += chunk.length;
      continue;
    }
    if (input.errored) throw input.errored;
    if (input.readableEnded || input.destroyed) return finish(true);
    const ended = await new Promise<boolean>((resolve, reject) => {
      const onReadable = () => { cleanup(); resolve(false); };
      const onEnd = () => { cleanup(); resolve(true); };
      const onError = (err: Error) => { cleanup(); reject(err); };
      const cleanup = () => {
        input.off('readable', onReadable);
        input.off('end', onEnd);
        input.off('error', onError);
      };
      input.on('readable', onReadable);
      input.on('end', onEnd);
      input.on('error', onError);
    });
    if (ended) return finish(true);
  }
  return finish(false);

  function finish(ended: boolean): { head: Buffer; stream: Readable } {
    const head = Buffer.concat(chunks);
    if (ended) return { head, stream: Readable.from(head.length > 0 ? [head] : []) };
    input.unshift(head);
    return { head, stream: input };
  }
}

/** A stream read into memory; more than `limit` bytes is refused (naming `what`) before it is held. */
export async function readWhole(input: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      input.destroy();
      throw new UserError(`${what}: more than the ${limit} bytes allowed`, 'EINPUT');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A pass-through stage that reports the bytes through it so far, for progress. Chunks go on as
 * they are; a stage of the pipeline rather than a second 'data' listener, which would start the
 * source flowing before the pipeline is attached.
 */
export function counting(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}
