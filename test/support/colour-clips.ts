/**
 * Short clips for comparing firstframe's model input with OpenCV's: a few frames of FFmpeg's testsrc2 with
 * grain (colour bars, gradients, sharp edges and texture: every rounding shows) at the sizes and colour tags
 * that matter. Made once into the fixture directory; each file is encoded under a temporary name and
 * renamed, so test processes that ask at once never read a half-written clip.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { defaultFixtureDir } from '../../src/fixtures/make.js';

const run = promisify(execFile);

/** Bump when a clip's recipe changes. */
const COLOUR_CLIPS_VERSION = 1;
export const COLOUR_CLIP_FRAMES = 3;

export interface ColourClip {
  readonly name: string;
  readonly file: string;
  readonly width: number;
  readonly height: number;
  /** The colour matrix the stream is tagged with (OpenCV ignores it). */
  readonly matrix: 'bt709' | 'bt601';
  /** Full range: FFmpeg decodes H.264 as yuvj420p, VP9 as yuv420p tagged full range. */
  readonly fullRange: boolean;
  readonly codec: 'h264' | 'vp9';
}

type ClipSpec = Omit<ColourClip, 'name' | 'file'>;

export const COLOUR_CLIPS: readonly ClipSpec[] = [
  { width: 1280, height: 720, matrix: 'bt709', fullRange: false, codec: 'h264' },
  { width: 1280, height: 720, matrix: 'bt601', fullRange: false, codec: 'h264' },
  { width: 848, height: 478, matrix: 'bt709', fullRange: false, codec: 'h264' },
  { width: 848, height: 478, matrix: 'bt601', fullRange: false, codec: 'h264' },
  { width: 848, height: 478, matrix: 'bt709', fullRange: true, codec: 'h264' },
  { width: 848, height: 478, matrix: 'bt709', fullRange: true, codec: 'vp9' },
];

const TAGS = { bt709: 'bt709', bt601: 'smpte170m' } as const;

function clipName(spec: ClipSpec): string {
  return `${spec.codec}-${spec.width}x${spec.height}-${spec.matrix}-${spec.fullRange ? 'pc' : 'tv'}`;
}

async function makeClip(dir: string, spec: ClipSpec): Promise<ColourClip> {
  const name = clipName(spec);
  const file = join(dir, `${name}.mp4`);
  if (!existsSync(file)) {
    const partial = join(dir, `${name}.${process.pid}.partial.mp4`);
    const tag = TAGS[spec.matrix];
    const codec =
      spec.codec === 'h264'
        ? ['-c:v', 'libx264', '-preset', 'veryfast']
        : ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'];
    await run('ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi'],
      ...['-i', `testsrc2=size=${spec.width}x${spec.height}:rate=25,noise=alls=24:allf=t`],
      ...['-frames:v', String(COLOUR_CLIP_FRAMES), ...codec, '-pix_fmt', 'yuv420p'],
      ...['-colorspace', tag, '-color_primaries', tag, '-color_trc', tag],
      ...['-color_range', spec.fullRange ? 'pc' : 'tv', partial],
    ]);
    renameSync(partial, file);
  }
  return { ...spec, name, file };
}

/** The clips of {@link COLOUR_CLIPS}, made where missing. */
export async function colourClips(): Promise<ColourClip[]> {
  const dir = join(defaultFixtureDir(), `colour-v${COLOUR_CLIPS_VERSION}`);
  mkdirSync(dir, { recursive: true });
  const clips: ColourClip[] = [];
  for (const spec of COLOUR_CLIPS) clips.push(await makeClip(dir, spec));
  return clips;
}
