import type { ByteChunk, ResourceInfo } from '../../../src/sources/types.js';

/** `bytes` cut into chunks of `size` (the last one shorter), each with its offset, from `resource`. */
export function chunksOf(bytes: Uint8Array, size: number, resource: ResourceInfo, from = 0): ByteChunk[] {
  const chunks: ByteChunk[] = [];
  for (let offset = from; offset < bytes.byteLength; offset += size) {
    chunks.push({
      offset,
      bytes: bytes.subarray(offset, Math.min(bytes.byteLength, offset + size)),
      receivedAt: 0,
      resource,
    });
  }
  return chunks;
}

/** The chunks joined. */
export function joined(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
