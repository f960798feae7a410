import { ModelError } from '../../core/errors.js';
import { modelCodes } from '../codes.js';
import { channelsOf, decodeYolo, parseClassNames, type YoloLayout } from '../yolo.js';
import { defineHead, type HeadCheckContext } from './types.js';

/** Anchors of a YOLO head with strides 8, 16 and 32 on a square input. */
export function anchorsFor(imgSize: number): number {
  return [8, 16, 32].reduce((sum, stride) => sum + (imgSize / stride) ** 2, 0);
}

/** Class names and keypoint shape from Ultralytics' metadata, checked against the output's channels. */
function layoutFrom(metadata: Readonly<Record<string, string>>, channels: number, where: string): YoloLayout {
  const task = metadata.task === 'pose' ? 'pose' : 'detect';
  const named = metadata.names ? parseClassNames(metadata.names) : undefined;
  if (metadata.names && !named) {
    throw new ModelError(
      modelCodes.invalid,
      `${where}: metadata "names" is not a Python dict of class names: ${metadata.names.slice(0, 80)}`,
      { path: where },
    );
  }
  let keypoints: YoloLayout['keypoints'];
  if (task === 'pose') {
    let shape: unknown;
    try {
      shape = metadata.kpt_shape ? (JSON.parse(metadata.kpt_shape) as unknown) : undefined;
    } catch {
      shape = undefined;
    }
    if (
      !Array.isArray(shape) ||
      shape.length !== 2 ||
      (shape[1] !== 2 && shape[1] !== 3) ||
      !Number.isInteger(shape[0])
    ) {
      throw new ModelError(
        modelCodes.invalid,
        `${where}: a pose model needs kpt_shape metadata like [17, 3], got ${JSON.stringify(metadata.kpt_shape)}`,
        { path: where },
      );
    }
    keypoints = { count: shape[0] as number, dims: shape[1] as 2 | 3 };
  }
  const classCount = channels - 4 - (keypoints ? keypoints.count * keypoints.dims : 0);
  const classNames = named ?? Array.from({ length: Math.max(0, classCount) }, (_, i) => `class${i}`);
  const layout: YoloLayout = { task, classNames, ...(keypoints ? { keypoints } : {}) };
  if (classCount < 1 || channelsOf(layout) !== channels) {
    throw new ModelError(
      modelCodes.output,
      `${where}: output has ${channels} channels per anchor, but a YOLO ${task} output with ${classNames.length} classes` +
        (keypoints ? ` and ${keypoints.count}×${keypoints.dims} keypoint values` : '') +
        ` has ${channelsOf(layout)}`,
      { path: where, channels },
    );
  }
  return layout;
}

function checkYolo({ path, imgSize, metadata, outputs }: HeadCheckContext) {
  const output = outputs[0];
  const fail = (message: string, context: Record<string, unknown> = {}): never => {
    throw new ModelError(modelCodes.output, `${path}: ${message}`, { path, ...context });
  };
  if (!output || output.shape.length !== 3) {
    return fail(
      `expected output0 of shape [N, 4 + classes, anchors], got ${JSON.stringify(output ? output.shape : output)}`,
    );
  }
  const [, channels, anchorDim] = output.shape;
  if (typeof channels !== 'number') return fail(`output ${output.name} has no fixed channel count`);
  if (typeof anchorDim === 'number' && anchorDim < channels) {
    return fail(
      `output [${output.shape.join(', ')}] is anchor-major or end-to-end (NMS inside the model); a YOLO export's output0 is channel-major [N, 4 + classes, anchors]`,
    );
  }
  if (typeof anchorDim === 'number' && anchorDim !== anchorsFor(imgSize)) {
    return fail(`output has ${anchorDim} anchors; a YOLO head at ${imgSize} has ${anchorsFor(imgSize)}`);
  }
  return { layout: layoutFrom(metadata, channels, path), outputs: [output.name] };
}

/**
 * Ultralytics YOLO detect and pose exports: the first output, channel-major [N, 4 + classes (+ keypoints),
 * anchors], class names and keypoint shape from the metadata; decoded by `decodeYolo` (strict threshold,
 * per-class NMS on unclipped boxes, clipping after).
 */
export const yoloHead = defineHead<YoloLayout>({
  name: 'yolo',
  summary: 'Ultralytics YOLO detect/pose export: output0 [N, 4 + classes (+ keypoints), anchors], with NMS',
  check: checkYolo,
  decode: (outputs, layout, { index, geometry, source }, options) => {
    const output = outputs[0]!;
    return decodeYolo(output.data, output.dims[2]!, index, layout, geometry, source, options);
  },
});
