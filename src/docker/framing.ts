// A check of a layer tar's framing, run as its bytes stream past: headers with valid checksums,
// data that is all there, and the end-of-archive marker that umoci 0.4.7's `insert` leaves out.
import { UserError } from '../errors.js';
import { MAX_PAX_BYTES } from '../limits.js';

const BLOCK = 512;
/** Types whose size field says nothing about data (Go's archive/tar isHeaderOnlyType). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

type State = 'header' | 'data' | 'end';

/**
 * Follows the tar structure of the bytes given to it, and at their end says whether the archive
 * was whole: not truncated inside an entry, nor missing the zero block that ends it.
 */
export class TarFraming {
  private state: State = 'header';
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Bytes of data (with padding) left in the current entry, and how many of them are padding. */
  private remaining = 0;
  private padding = 0;
  private entries = 0;
  private offset = 0;
  /** The PAX header being collected ('x'), whose size record overrides the next header's size. */
  private pax: Buffer[] | undefined;
  private paxSize: number | undefined;
  private paxDataLeft = 0;

  constructor(private readonly where: string) {}

  /** Why the bytes seen so far are not a whole tar, or undefined when they are. */
  incomplete(): UserError | undefined {
    if (this.state === 'end') return undefined;
    const umoci = "umoci 0.4.7's `insert` writes layers like this (umoci #436): rebuild the image (e.g. with `umoci repack`) and convert again";
    if (this.state === 'header' && this.headerFill === 0) {
      return new UserError(`${this.where}: the layer tar ends after ${this.entries} entries without its end-of-archive marker (zero blocks); ${umoci}`, 'ELAYOUT');
    }
    if (this.state === 'data' && this.remaining <= this.padding) {
      return new UserError(
        `${this.where}: the layer tar stops right after the data of entry ${this.entries}, with neither the padding to a whole block nor the end-of-archive marker; ${umoci}`,
        'ELAYOUT',
      );
    }
    return new UserError(`${this.where}: the layer tar is truncated: it ends inside entry ${this.entries + (this.state === 'data' ? 0 : 1)} (at byte ${this.offset})`, 'ELAYOUT');
  }

  /** Follow these bytes, as a write would; throws when they break the tar's structure. */
  consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'end') {
      if (this.state === 'header') {
        const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
          this.offset += BLOCK;
        }
      } else {
        const take = Math.min(this.remaining, chunk.length - at);
        if (this.pax && this.paxDataLeft > 0) {
          const part = chunk.subarray(at, at + Math.min(take, this.paxDataLeft));
          this.pax.push(Buffer.from(part));
          this.paxDataLeft -= part.length;
        }
        this.remaining -= take;
        this.offset += take;
        at += take;
        if (this.remaining === 0) this.endOfData();
      }
    }
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      this.state = 'end';
      return;
    }
    if (!checksumOk(h)) {
      throw new UserError(`${this.where}: the layer is not a valid tar: bad header checksum at byte ${this.offset}`, 'ELAYOUT');
    }
    const type = String.fromCharCode(h[156]!);
    let size = sizeField(h.subarray(124, 136), this.where, this.offset);
    const meta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
    if (!meta) {
      if (this.paxSize !== undefined) size = this.paxSize;
      this.paxSize = undefined;
      this.entries++;
      if (HEADER_ONLY.has(type)) size = 0;
    }
    if (type === 'x') {
      if (size > MAX_PAX_BYTES) throw new UserError(`${this.where}: a PAX header of ${size} bytes at byte ${this.offset}`, 'ELAYOUT');
      this.pax = [];
      this.paxDataLeft = size;
    }
    this.remaining = Math.ceil(size / BLOCK) * BLOCK;
    this.padding = this.remaining - size;
    if (this.remaining === 0) this.endOfData();
    else this.state = 'data';
  }

  private endOfData(): void {
    if (this.pax) {
      this.paxSize = paxSizeRecord(Buffer.concat(this.pax));
      this.pax = undefined;
    }
    this.state = 'header';
  }
}

function checksumOk(h: Buffer): boolean {
  const field = h.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

/** The size field: octal text, or base-256 when its first byte has the high bit set. */
function sizeField(field: Buffer, where: string, offset: number): number {
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    if (!Number.isSafeInteger(n)) throw new UserError(`${where}: an entry size too large at byte ${offset}`, 'ELAYOUT');
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new UserError(`${where}: the layer is not a valid tar: bad size field at byte ${offset}`, 'ELAYOUT');
  return parseInt(text, 8);
}

/** The `size` record of a PAX header, if it has one. */
function paxSizeRecord(body: Buffer): number | undefined {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(body.toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
