import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { crc32, gunzipSync } from "node:zlib";
import { crc32Combine, deflatePiece, GzipStream, pieceCrc } from "./gzip.ts";

const piece = (text: string | Buffer) => {
  const bytes = Buffer.from(text);
  return { bytes, deflated: deflatePiece(bytes), crc: pieceCrc(bytes) };
};

describe("gzip from shared pieces", () => {
  it("combines CRC-32s as zlib does", () => {
    for (const [a, b] of [[0, 0], [1, 0], [0, 1], [3, 5], [1000, 70_000], [65_536, 1]]) {
      const x = randomBytes(a);
      const y = randomBytes(b);
      assert.equal(crc32Combine(crc32(x), crc32(y), y.length), crc32(Buffer.concat([x, y])), `${a} + ${b} bytes`);
    }
  });

  it("makes streams that decode to what went in, the trailer checked", () => {
    const pieces = ["id: 1\n\n", "x".repeat(100_000), "", "data: ü\n\n", randomBytes(5000).toString("base64")].map(piece);
    const stream = new GzipStream();
    const written = [...pieces.map((p) => stream.piece(p)), stream.end()];
    assert.equal(gunzipSync(Buffer.concat(written)).toString(), pieces.map((p) => p.bytes.toString()).join(""));
    assert.equal(gunzipSync(new GzipStream().end()).length, 0, "a stream with nothing in it");
  });
});
