"""OpenCV's side of test/media/preprocess-opencv.test.ts: what Ultralytics' predict makes of a video.

  opencv_reference.py letterbox FRAMES CLIP SIZE [CLIP SIZE ...]
      For each CLIP, its first FRAMES frames as cv2.VideoCapture reads them, letterboxed to SIZE as
      Ultralytics' LetterBox does (cv2.resize INTER_LINEAR, copyMakeBorder 114, centred), BGR -> RGB,
      planar: 3 x SIZE x SIZE bytes per frame on stdout, clip after clip.
  opencv_reference.py resize SEED WIDTH HEIGHT TO_WIDTH TO_HEIGHT [WIDTH HEIGHT TO_WIDTH TO_HEIGHT ...]
      For each size, a random WIDTH x HEIGHT BGR image (numpy's PCG64 from SEED, one generator for all)
      then its cv2.resize INTER_LINEAR to TO_WIDTH x TO_HEIGHT, both packed, on stdout.

Run with Debian's /usr/bin/python3 (python3-opencv, python3-numpy).
"""
import sys

import cv2
import numpy as np


def letterbox(image, size):
    # ultralytics/data/augment.py LetterBox.__call__ with auto=False, scaleup=True, center=True.
    shape = image.shape[:2]
    r = min(size / shape[0], size / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (size - new_unpad[0]) / 2, (size - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        image = cv2.resize(image, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def main():
    out = sys.stdout.buffer
    mode, first, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode == 'letterbox':
        for clip, size in zip(rest[0::2], map(int, rest[1::2])):
            capture = cv2.VideoCapture(clip)
            for index in range(first):
                ok, frame = capture.read()
                if not ok:
                    sys.exit(f'{clip}: OpenCV read no frame {index}')
                rgb = letterbox(frame, size)[..., ::-1]
                out.write(np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes())
            capture.release()
    elif mode == 'resize':
        rng = np.random.default_rng(first)
        sizes = list(map(int, rest))
        for width, height, to_width, to_height in zip(*[iter(sizes)] * 4):
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            out.write(image.tobytes())
            out.write(cv2.resize(image, (to_width, to_height), interpolation=cv2.INTER_LINEAR).tobytes())
    else:
        sys.exit(f'unknown mode {mode}')


main()
