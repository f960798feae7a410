/**
 * Letterboxing as Ultralytics' YOLO pre-processing does it: scale to fit a square of `size` keeping the
 * aspect ratio, centre, and pad with grey 114. The numbers here are what maps a model's boxes back to
 * source pixels: x_source = (x_model - padX) / scale.
 */
export interface LetterboxGeometry {
  readonly size: number;
  readonly scale: number;
  readonly scaledWidth: number;
  readonly scaledHeight: number;
  readonly padX: number;
  readonly padY: number;
}

/** A frame converted for the model: planar RGB bytes (R plane, G plane, B plane), `size` × `size` each. */
export interface LetterboxedImage extends LetterboxGeometry {
  readonly data: Uint8Array;
}

export const LETTERBOX_PAD_VALUE = 114;

export function letterboxGeometry(width: number, height: number, size: number): LetterboxGeometry {
  const scale = Math.min(size / width, size / height);
  const scaledWidth = Math.max(1, Math.round(width * scale));
  const scaledHeight = Math.max(1, Math.round(height * scale));
  // Ultralytics rounds the half padding with a small bias towards the top/left (round(d - 0.1)).
  const padX = Math.max(0, Math.round((size - scaledWidth) / 2 - 0.1));
  const padY = Math.max(0, Math.round((size - scaledHeight) / 2 - 0.1));
  return { size, scale, scaledWidth, scaledHeight, padX, padY };
}

/** The FFmpeg filter graph that produces the letterbox in planar RGB (gbrp: planes G, B, R). */
export function letterboxFilterSpec(geometry: LetterboxGeometry, padValue = LETTERBOX_PAD_VALUE): string {
  const grey = padValue.toString(16).padStart(2, '0');
  const { size, scaledWidth, scaledHeight, padX, padY } = geometry;
  return (
    `scale=${scaledWidth}:${scaledHeight}:flags=bilinear,format=gbrp,` +
    `pad=${size}:${size}:${padX}:${padY}:color=0x${grey}${grey}${grey}`
  );
}

/**
 * Copies gbrp planes (each row `linesize` bytes, of which `size` are pixels) into one tight R, G, B
 * planar buffer: `target` when given (3 × size × size bytes, e.g. a prefetch slot's reused buffer), else
 * a new one.
 */
export function packGbrpPlanes(
  planes: readonly Uint8Array[],
  linesizes: readonly number[],
  geometry: LetterboxGeometry,
  target?: Uint8Array,
): LetterboxedImage {
  const { size } = geometry;
  const area = size * size;
  if (target && target.byteLength !== area * 3) {
    throw new RangeError(
      `a letterbox of ${size}×${size} takes ${area * 3} bytes, the target has ${target.byteLength}`,
    );
  }
  const data = target ?? new Uint8Array(area * 3);
  // gbrp stores G, B, R; the model wants R, G, B.
  const order = [2, 0, 1] as const;
  for (let channel = 0; channel < 3; channel += 1) {
    const from = order[channel]!;
    const plane = planes[from]!;
    const linesize = linesizes[from]!;
    const base = channel * area;
    if (linesize === size) {
      data.set(plane.subarray(0, area), base);
      continue;
    }
    for (let y = 0; y < size; y += 1) {
      data.set(plane.subarray(y * linesize, y * linesize + size), base + y * size);
    }
  }
  return { ...geometry, data };
}
