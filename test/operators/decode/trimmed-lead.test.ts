import { lastValueFrom, take, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../../src/core/events.js';
import { makeEditStartClips, type EditStartClips } from '../../../src/fixtures/edit-start.js';
import { beamcoder, packetPayload, type Beamcoder } from '../../../src/media/beamcoder.js';
import { isNonReferencePicture, nalFormat } from '../../../src/media/nal.js';
import { decode } from '../../../src/operators/decode.js';
import { Decoders } from '../../../src/operators/decode/decoders.js';
import { LEAD_MAX_PACKETS, TrimmedStartLead } from '../../../src/operators/decode/trimmed-lead.js';
import { fileSource } from '../../../src/sources/file.js';
import { testFixtures } from '../../support/fixtures.js';

let clips: EditStartClips;
beforeAll(async () => {
  clips = await makeEditStartClips(await testFixtures());
});

interface Demuxed {
  demuxer: Beamcoder.Demuxer;
  /** The video packets FFmpeg gives, trimmed non-reference pictures left out (as the demuxer part does). */
  packets: Beamcoder.Packet[];
  startTimestamp: number;
}

async function demux(file: string): Promise<Demuxed> {
  const bc = beamcoder();
  const demuxer = await bc.demuxer(`file:${file}`);
  const video = demuxer.streams.findIndex((stream) => stream.codecpar.codec_type === 'video');
  const format = nalFormat('h264', demuxer.streams[video]!.codecpar.extradata)!;
  const packets: Beamcoder.Packet[] = [];
  for (let packet = await demuxer.read(); packet; packet = await demuxer.read()) {
    if (packet.stream_index !== video) continue;
    if (packet.flags?.DISCARD && isNonReferencePicture('h264', packetPayload(packet), format)) continue;
    packets.push(packet);
  }
  return { demuxer, packets, startTimestamp: demuxer.streams[video]!.start_time as number };
}

/** Luma rows of a frame, without the line padding. */
function luma(frame: Beamcoder.Frame): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < frame.height; y += 1) {
    rows.push(frame.data[0]!.subarray(y * frame.linesize[0]!, y * frame.linesize[0]! + frame.width));
  }
  return Buffer.concat(rows);
}

function decodersFor(demuxer: Beamcoder.Demuxer): { decoders: Decoders; make: () => Beamcoder.Decoder } {
  const bc = beamcoder();
  const decoders = new Decoders(
    (options) => bc.decoder(options as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number }),
    () => true,
  );
  const make = () => decoders.own({ demuxer, stream_index: 0, thread_count: 1 });
  return { decoders, make };
}

describe('TrimmedStartLead: frame 0 of an edit-trimmed stream from a throwaway decoder', () => {
  it('takes the packets from the sync sample and gives frame 0 at its own packet, equal to a full decode', async () => {
    const { demuxer, packets, startTimestamp } = await demux(clips.faststart.file);
    expect(startTimestamp).toBe(0);
    expect(packets[0]!.flags).toMatchObject({ KEY: true, DISCARD: true });
    const shownAt = packets.findIndex((packet) => packet.pts === startTimestamp && !packet.flags?.DISCARD);
    // The clip's GOP: frame 0 is a B-picture well after the sync sample, after a later P in decode order.
    expect(shownAt).toBeGreaterThan(4);
    expect(packets.slice(0, shownAt).some((packet) => !packet.flags?.DISCARD && packet.pts! > 0)).toBe(true);

    const { decoders, make } = decodersFor(demuxer);
    const lead = TrimmedStartLead.forFirstPacket(packets[0]!, startTimestamp, decoders, make)!;
    expect(lead).toBeDefined();
    const results = packets.slice(0, shownAt + 1).map((packet) => lead.take(packet));
    // Nothing until frame 0's own packet; then the lead takes no more.
    expect(results.slice(0, shownAt).every((result) => result === undefined)).toBe(true);
    expect(lead.taking).toBe(false);
    expect(lead.take(packets[shownAt + 1]!)).toBeUndefined();
    const frame0 = await results[shownAt]!;
    expect(frame0?.best_effort_timestamp ?? frame0?.pts).toBe(0);

    // The reference: every packet through one decoder, drained; FFmpeg outputs no trimmed picture, so its
    // first frame is frame 0.
    const reference = make();
    const frames: Beamcoder.Frame[] = [];
    for (const packet of packets.slice(0, shownAt + 8))
      frames.push(...(await reference.decode(packet)).frames);
    frames.push(...(await reference.flush()).frames);
    expect(frames[0]!.best_effort_timestamp ?? frames[0]!.pts).toBe(0);
    expect(luma(frame0!).equals(luma(frames[0]!))).toBe(true);
    await decoders.idle();
    decoders.closeAll();
  });

  it('no lead for a stream that starts where it is shown, or without a start time', async () => {
    const fixtures = await testFixtures();
    const { demuxer, packets, startTimestamp } = await demux(fixtures.clips['faststart']!.file);
    const { decoders, make } = decodersFor(demuxer);
    expect(TrimmedStartLead.forFirstPacket(packets[0]!, startTimestamp, decoders, make)).toBeUndefined();
    const trimmed = await demux(clips.faststart.file);
    expect(TrimmedStartLead.forFirstPacket(trimmed.packets[0]!, undefined, decoders, make)).toBeUndefined();
    decoders.closeAll();
  });

  it(`gives up after ${LEAD_MAX_PACKETS} packets without frame 0: closed, no frame`, async () => {
    const { demuxer, packets, startTimestamp } = await demux(clips.faststart.file);
    const bc = beamcoder();
    const made: Beamcoder.Decoder[] = [];
    const closed: Beamcoder.Decoder[] = [];
    const counting = new Decoders(
      (options) => bc.decoder(options as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number }),
      () => true,
      { onMainThread: (decoder) => closed.push(decoder), offThread: (decoder) => closed.push(decoder) },
    );
    const make = () => {
      made.push(counting.own({ demuxer, stream_index: 0, thread_count: 1 }));
      return made.at(-1)!;
    };
    // Every packet but frame 0's, over and over: frame 0 never comes.
    const others = packets.filter((packet) => packet.pts !== startTimestamp && !packet.flags?.KEY);
    const lead = TrimmedStartLead.forFirstPacket(packets[0]!, startTimestamp, counting, make)!;
    expect(lead.take(packets[0]!)).toBeUndefined();
    let taken = 1;
    while (lead.taking) {
      expect(lead.take(others[taken % 20]!)).toBeUndefined();
      taken += 1;
    }
    expect(taken).toBe(LEAD_MAX_PACKETS);
    await counting.idle();
    await new Promise((resolve) => setImmediate(resolve));
    // Its one decoder, closed once its calls were done.
    expect(made.length).toBe(1);
    expect(closed).toEqual(made);
  });
});

describe('TrimmedStartLead: where it stops', () => {
  it("at the next keyframe when frame 0's packet never came (a stride skipped it): closed, no frame", async () => {
    const { demuxer, packets, startTimestamp } = await demux(clips.faststart.file);
    const { decoders, make } = decodersFor(demuxer);
    const lead = TrimmedStartLead.forFirstPacket(packets[0]!, startTimestamp, decoders, make)!;
    // The clip's last GOP: its packets but frame 0's, then a keyframe (the sync sample's packet again).
    const shown = packets.findIndex((packet) => packet.pts === startTimestamp);
    for (const packet of packets.slice(0, shown + 3)) {
      if (packet.pts !== startTimestamp) expect(lead.take(packet)).toBeUndefined();
    }
    expect(lead.taking).toBe(true);
    expect(lead.take(packets[0]!)).toBeUndefined();
    expect(lead.taking).toBe(false);
    await decoders.idle();
    decoders.closeAll();
  });
});

describe('decode: an edit-trimmed stream', () => {
  it.each(['faststart', 'moov-end'] as const)(
    '%s from disk: frame 0 from the lead (decoded alone), then the frames in order',
    async (layout) => {
      const events: StageEvent[] = [];
      const frames = await lastValueFrom(
        fileSource(clips[layout].file).pipe(
          decode({ imgSize: 64, onEvent: (event) => events.push(event) }),
          take(6),
          toArray(),
        ),
      );
      expect(frames.map((frame) => frame.frameNumber)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(frames.map((frame) => Math.round(frame.pts * 25))).toEqual([0, 1, 2, 3, 4, 5]);
      const first = events.find((event) => event.stage === 'decode' && event.name === 'first-frame');
      expect(first?.data).toMatchObject({ frameNumber: 0, decodedAlone: true, fromIndex: false });
    },
  );
});
