import { beamcoder } from './beamcoder.js';

/** FFmpeg's NVDEC decoders (cuvid) by the codec they decode. */
export const CUVID_DECODERS: Readonly<Record<string, string>> = {
  h264: 'h264_cuvid',
  hevc: 'hevc_cuvid',
  av1: 'av1_cuvid',
  vp9: 'vp9_cuvid',
  vp8: 'vp8_cuvid',
  mpeg4: 'mpeg4_cuvid',
};

/**
 * Whether a shared library can be found by the dynamic loader. `process.dlopen` is meant for Node addons:
 * on a real library that is not an addon it fails with "did not self-register" (or similar), while a
 * missing one fails with "cannot open shared object file". Only the latter means absent.
 */
function sharedLibraryPresent(name: string): boolean {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, name);
    return true;
  } catch (error) {
    return !/cannot open shared object file|no such file/i.test((error as Error).message);
  }
}

export interface NvdecSupport {
  readonly available: boolean;
  /** Why not, in words a user can act on. */
  readonly reason?: string;
  readonly decoder?: string;
}

/**
 * Whether NVDEC decoding of `codec` can work here: FFmpeg must have the cuvid decoder and the NVIDIA
 * driver's libcuda and libnvcuvid must be loadable. (FFmpeg's cuvid decoders fail silently at their first
 * packet otherwise: no error, just no frames.)
 */
export function nvdecSupport(codec: string): NvdecSupport {
  const decoder = CUVID_DECODERS[codec];
  if (!decoder) return { available: false, reason: `no NVDEC decoder for codec ${codec}` };
  if (!(decoder in beamcoder().decoders())) {
    return { available: false, reason: `this FFmpeg build has no ${decoder} decoder` };
  }
  for (const library of ['libcuda.so.1', 'libnvcuvid.so.1']) {
    if (!sharedLibraryPresent(library)) {
      return { available: false, reason: `${library} (NVIDIA driver) is not installed`, decoder };
    }
  }
  return { available: true, decoder };
}
