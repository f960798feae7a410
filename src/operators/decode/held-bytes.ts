/**
 * Bytes [from, to) of a run of held chunks whose first byte is at offset `heldFrom`, in one array: a view
 * when one chunk holds them, else one copy. The moov tail and the moof gate both keep a stream's chunks as
 * they came and cut boxes out of them.
 */
export function sliceHeld(
  chunks: readonly Uint8Array[],
  heldFrom: number,
  from: number,
  to: number,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = heldFrom;
  for (const chunk of chunks) {
    const chunkEnd = at + chunk.byteLength;
    if (chunkEnd > from && at < to) {
      parts.push(chunk.subarray(Math.max(0, from - at), Math.min(chunk.byteLength, to - at)));
    }
    if (chunkEnd >= to) break;
    at = chunkEnd;
  }
  if (parts.length === 1) return parts[0]!;
  const joined = new Uint8Array(to - from);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}

/** Chunks as one array: the chunk itself when there is one, else one copy. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks);
}
