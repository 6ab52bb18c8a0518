// The event stream in gzip (Content-Encoding: gzip) without compressing once per listener:
// a piece of the stream is compressed once on its own (no reference to what came before, a
// sync flush so it ends on a byte boundary) and the same bytes go to every listener that gets
// that piece; deflate blocks concatenate, so each listener's stream is its gzip header, the
// pieces it got, and at the end a last block and a trailer with its own CRC-32 and length
// (each piece's CRC is taken once too, and combined into each listener's).

import { constants, crc32, deflateRawSync } from "node:zlib";

/** Magic, deflate, no flags, no time, no extra flags, OS unknown (RFC 1952). */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
/** An empty last block (fixed Huffman codes, BFINAL set): the deflate stream ends. */
const LAST_BLOCK = Buffer.from([0x03, 0x00]);

/** A piece compressed on its own; any number of them, in any order, make a deflate stream. */
export function deflatePiece(bytes: Buffer): Buffer {
  // memLevel 4: a compressor set up in a sixth of the default's time, pieces as small.
  return deflateRawSync(bytes, { level: 1, memLevel: 4, finishFlush: constants.Z_SYNC_FLUSH });
}

/** A piece as each listener's gzip stream needs it: compressed and its CRC-32, both taken once. */
export interface GzipPiece {
  readonly bytes: Buffer;
  readonly deflated: Buffer;
  readonly crc: number;
}

export const pieceCrc = (bytes: Buffer): number => crc32(bytes);

/** One listener's gzip framing around the shared compressed pieces. */
export class GzipStream {
  private crc = 0;
  private size = 0;
  private started = false;

  /** What to write for the piece. */
  piece(p: GzipPiece): Buffer {
    const { bytes, deflated } = p;
    this.crc = crc32Combine(this.crc, p.crc, bytes.length);
    this.size = (this.size + bytes.length) % 2 ** 32;
    if (this.started) return deflated;
    this.started = true;
    return Buffer.concat([HEADER, deflated]);
  }

  /** The end of the stream: the last block and the trailer. */
  end(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc, 0);
    trailer.writeUInt32LE(this.size, 4);
    return Buffer.concat([this.started ? LAST_BLOCK : Buffer.concat([HEADER, LAST_BLOCK]), trailer]);
  }
}

// CRC-32 of two strings joined, from theirs and the second's length: zlib's crc32_combine
// (multiplication modulo the CRC polynomial, reflected bit order).
const POLY = 0xedb88320;

function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N: number[] = [];
for (let k = 0, p = 0x40000000; k < 32; k++, p = multModP(p, p)) X2N.push(p);

/** x^(n·2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000;
  for (; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multModP(X2N[k & 31], p);
  return p;
}

export function crc32Combine(crc1: number, crc2: number, length2: number): number {
  return (multModP(x2nModP(length2, 3), crc1) ^ crc2) >>> 0;
}
