/**
 * Packet-level mutations of an MPEG-TS file (188-byte packets): sync bytes, PIDs, the PAT and PMT,
 * adaptation fields, PES headers, continuity counters, packets dropped, duplicated or cut.
 */

import { copyOf, type Mutator } from './mutation.js';

const PACKET = 188;

interface Packet {
  index: number;
  offset: number;
  pid: number;
  payloadStart: boolean;
  /** Offset of the payload (after the 4-byte header and any adaptation field). */
  payloadOffset: number;
}

/** The packets of a TS file; each one's header fields. */
export function tsPackets(bytes: Uint8Array): Packet[] {
  const packets: Packet[] = [];
  for (let offset = 0; offset + PACKET <= bytes.length; offset += PACKET) {
    if (bytes[offset] !== 0x47) continue;
    const pid = ((bytes[offset + 1]! & 0x1f) << 8) | bytes[offset + 2]!;
    const control = (bytes[offset + 3]! >> 4) & 0x3;
    const adaptation = control & 0x2 ? 1 + bytes[offset + 4]! : 0;
    packets.push({
      index: offset / PACKET,
      offset,
      pid,
      payloadStart: (bytes[offset + 1]! & 0x40) !== 0,
      payloadOffset: offset + 4 + adaptation,
    });
  }
  return packets;
}

/** The PIDs the PAT names as program maps. */
function pmtPids(bytes: Uint8Array, packets: Packet[]): Set<number> {
  const pids = new Set<number>();
  const pat = packets.find((p) => p.pid === 0 && p.payloadStart);
  if (!pat) return pids;
  const section = pat.payloadOffset + 1 + bytes[pat.payloadOffset]!;
  const length = ((bytes[section + 1]! & 0x0f) << 8) | bytes[section + 2]!;
  for (let at = section + 8; at + 4 <= section + 3 + length - 4; at += 4) {
    pids.add(((bytes[at + 2]! & 0x1f) << 8) | bytes[at + 3]!);
  }
  return pids;
}

const syncByte: Mutator = (input, rng) => {
  const packets = tsPackets(input);
  if (packets.length === 0) return undefined;
  const bytes = copyOf(input);
  const count = rng.pick([1, 3, 50]);
  for (let i = 0; i < count; i += 1) bytes[rng.pick(packets).offset] = rng.pick([0x00, 0x46, 0xff]);
  return { bytes, detail: `${count} sync byte(s) broken` };
};

const pid: Mutator = (input, rng) => {
  const packets = tsPackets(input);
  if (packets.length === 0) return undefined;
  const bytes = copyOf(input);
  const pmts = pmtPids(input, packets);
  const video = packets.find((p) => p.pid !== 0 && !pmts.has(p.pid))?.pid ?? 0x100;
  const from = rng.pick([0, video, ...pmts]);
  const to = rng.pick([0, 1, 0x1fff, video, rng.int(0x2000), ...pmts]);
  const which = packets.filter((p) => p.pid === from);
  const targets = rng.chance(0.5) ? which : which.slice(0, 1);
  for (const packet of targets) {
    bytes[packet.offset + 1] = (bytes[packet.offset + 1]! & 0xe0) | (to >> 8);
    bytes[packet.offset + 2] = to & 0xff;
  }
  return { bytes, detail: `${targets.length} packet(s) of PID ${from} moved to PID ${to}` };
};

/** PAT/PMT fields: pointer field, section length, program-map PID, stream type, elementary PID. */
const psi: Mutator = (input, rng) => {
  const packets = tsPackets(input);
  const pmts = pmtPids(input, packets);
  const tables = packets.filter((p) => p.payloadStart && (p.pid === 0 || pmts.has(p.pid)));
  if (tables.length === 0) return undefined;
  const packet = rng.pick(tables.slice(0, 4));
  const bytes = copyOf(input);
  const section = packet.payloadOffset + 1 + input[packet.payloadOffset]!;
  const field = rng.pick(['pointer', 'section-length', 'entry', 'table-id', 'byte'] as const);
  switch (field) {
    case 'pointer':
      bytes[packet.payloadOffset] = rng.pick([1, 100, 183, 0xff]);
      break;
    case 'section-length': {
      const value = rng.pick([0, 1, 5, 0x3ff, 0xfff]);
      bytes[section + 1] = (bytes[section + 1]! & 0xf0) | (value >> 8);
      bytes[section + 2] = value & 0xff;
      break;
    }
    case 'entry':
      // The first program / stream entry: PAT program-map PID, or PMT stream type and elementary PID.
      bytes.set(rng.bytes(4), section + (packet.pid === 0 ? 8 : 12));
      break;
    case 'table-id':
      bytes[section] = rng.pick([0, 2, 0xff]);
      break;
    case 'byte':
      bytes[section + rng.int(PACKET - (section - packet.offset))] = rng.uint32() & 0xff;
      break;
  }
  return { bytes, detail: `${packet.pid === 0 ? 'PAT' : 'PMT'} packet ${packet.index} ${field}` };
};

const adaptation: Mutator = (input, rng) => {
  const packets = tsPackets(input).filter((p) => p.pid !== 0);
  if (packets.length === 0) return undefined;
  const packet = rng.pick(packets);
  const bytes = copyOf(input);
  const control = rng.pick([0, 1, 2, 3]);
  bytes[packet.offset + 3] = (bytes[packet.offset + 3]! & 0xcf) | (control << 4);
  const length = rng.pick([0, 1, 182, 183, 184, 0xff]);
  if (control & 0x2) bytes[packet.offset + 4] = length;
  return { bytes, detail: `packet ${packet.index} adaptation control ${control}, length ${length}` };
};

/** A PES header: its start code, its length, its header length, its PTS. */
const pes: Mutator = (input, rng) => {
  const starts = tsPackets(input).filter(
    (p) => p.pid !== 0 && p.payloadStart && input[p.payloadOffset + 2] === 1,
  );
  if (starts.length === 0) return undefined;
  const packet = rng.pick(starts);
  const at = packet.payloadOffset;
  const bytes = copyOf(input);
  const field = rng.pick(['start-code', 'packet-length', 'header-length', 'pts', 'stream-id'] as const);
  switch (field) {
    case 'start-code':
      bytes[at + 2] = rng.pick([0, 2, 0xff]);
      break;
    case 'packet-length':
      bytes[at + 4] = rng.pick([0, 0xff]);
      bytes[at + 5] = rng.pick([1, 0xff]);
      break;
    case 'header-length':
      bytes[at + 8] = rng.pick([0, 0xb0, 0xff]);
      break;
    case 'pts':
      bytes.set(rng.bytes(5), at + 9);
      break;
    case 'stream-id':
      bytes[at + 3] = rng.pick([0xbd, 0xc0, 0x00]);
      break;
  }
  return { bytes, detail: `PES in packet ${packet.index} ${field}` };
};

const continuity: Mutator = (input, rng) => {
  const packets = tsPackets(input);
  if (packets.length === 0) return undefined;
  const bytes = copyOf(input);
  const share = rng.pick([0.01, 0.1, 1]);
  let changed = 0;
  for (const packet of packets) {
    if (!rng.chance(share)) continue;
    bytes[packet.offset + 3] = (bytes[packet.offset + 3]! & 0xf0) | rng.int(16);
    changed += 1;
  }
  return { bytes, detail: `${changed} continuity counter(s) scrambled` };
};

/** Whole packets dropped, duplicated or swapped, or the file cut at (or inside) a packet. */
const packets: Mutator = (input, rng) => {
  const count = Math.floor(input.length / PACKET);
  if (count < 2) return undefined;
  const first = rng.chance(0.5) ? rng.int(Math.min(count, 16)) : rng.int(count);
  const span = Math.min(count - first, rng.pick([1, 2, 10, 100]));
  const from = first * PACKET;
  const to = (first + span) * PACKET;
  const how = rng.pick(['drop', 'duplicate', 'swap', 'cut'] as const);
  let bytes: Uint8Array;
  if (how === 'drop') {
    bytes = new Uint8Array(input.length - (to - from));
    bytes.set(input.subarray(0, from));
    bytes.set(input.subarray(to), from);
  } else if (how === 'duplicate') {
    bytes = new Uint8Array(input.length + (to - from));
    bytes.set(input.subarray(0, to));
    bytes.set(input.subarray(from), to);
  } else if (how === 'swap') {
    bytes = copyOf(input);
    const other = rng.int(count - span + 1) * PACKET;
    bytes.set(input.subarray(other, other + (to - from)), from);
    bytes.set(input.subarray(from, to), other);
  } else {
    const at = Math.max(1, from + rng.pick([0, 1, 4, 100]));
    return { bytes: input.slice(0, at), detail: `cut at ${at} (packet ${first})` };
  }
  return {
    bytes,
    detail: `packets ${first}..${first + span} ${{ drop: 'dropped', duplicate: 'duplicated', swap: 'swapped' }[how]}`,
  };
};

export const TS_MUTATORS: Record<string, { weight: number; mutate: Mutator }> = {
  'ts-sync': { weight: 1, mutate: syncByte },
  'ts-pid': { weight: 2, mutate: pid },
  'ts-psi': { weight: 3, mutate: psi },
  'ts-adaptation': { weight: 2, mutate: adaptation },
  'ts-pes': { weight: 2, mutate: pes },
  'ts-continuity': { weight: 1, mutate: continuity },
  'ts-packets': { weight: 3, mutate: packets },
};
