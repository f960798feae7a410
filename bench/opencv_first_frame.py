"""Time to first frame with OpenCV's FFmpeg backend, for bench/decode.ts to compare against.

run: /usr/bin/python3 bench/opencv_first_frame.py URL [RUNS]
     /usr/bin/python3 bench/opencv_first_frame.py --serve

Each run times `cv2.VideoCapture(url, cv2.CAP_FFMPEG)` plus reads until the first successful `cap.read()`,
which is what a Python miner does before it has a frame to give its model. The capture is released after
each run, so every run opens its own connection(s), as the TypeScript side does with a fresh dispatcher.

Prints one JSON document on stdout:
  {"available": true, "version": "4.6.0", "runs": [{"ms": 312.4, "ok": true, "width": 1280, "height": 720}, ...]}
or, when cv2 cannot be imported (Debian's python3-opencv is not installed):
  {"available": false, "note": "..."}
and exits 0 in both cases: a missing OpenCV is a skipped comparison, not a failure of the bench.

With --serve (what bench/decode.ts uses, to alternate OpenCV's runs with its own): prints
  {"available": true, "version": "4.6.0"}   (or the unavailable document above, and exits)
then reads URLs from stdin, one per line, and answers each with one run's result on a line of its own,
until stdin ends.
"""

import json
import sys
import time


def time_first_frame(cv2, url):
    started = time.perf_counter()
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            return {"ms": (time.perf_counter() - started) * 1000.0, "ok": False, "error": "not opened"}
        # A few reads may come back empty while FFmpeg's decoder fills its reorder delay; the miners'
        # loops skip those, so the clock stops at the first frame that has pixels.
        for _ in range(64):
            ok, frame = cap.read()
            if ok and frame is not None:
                ms = (time.perf_counter() - started) * 1000.0
                return {"ms": ms, "ok": True, "width": int(frame.shape[1]), "height": int(frame.shape[0])}
        return {"ms": (time.perf_counter() - started) * 1000.0, "ok": False, "error": "no frame in 64 reads"}
    finally:
        cap.release()


def serve(cv2):
    print(json.dumps({"available": True, "version": cv2.__version__}), flush=True)
    for line in sys.stdin:
        url = line.strip()
        if url:
            print(json.dumps(time_first_frame(cv2, url)), flush=True)
    return 0


def import_cv2():
    try:
        import cv2  # noqa: PLC0415 (imported here so that its absence is a note, not a traceback)
    except ImportError as error:
        note = f"cv2 is not importable with {sys.executable} ({error}); run scripts/setup-bench.sh"
        print(json.dumps({"available": False, "note": note}), flush=True)
        return None
    return cv2


def main(argv):
    if len(argv) == 2 and argv[1] == "--serve":
        cv2 = import_cv2()
        return serve(cv2) if cv2 is not None else 0
    if len(argv) < 2:
        print("usage: opencv_first_frame.py URL [RUNS] | --serve", file=sys.stderr)
        return 2
    url = argv[1]
    try:
        runs = int(argv[2]) if len(argv) > 2 else 5
        if runs <= 0:
            raise ValueError(runs)
    except ValueError:
        print(f"opencv_first_frame.py: RUNS: expected a positive integer, got {argv[2]!r}", file=sys.stderr)
        return 2
    cv2 = import_cv2()
    if cv2 is None:
        return 0
    results = [time_first_frame(cv2, url) for _ in range(runs)]
    print(json.dumps({"available": True, "version": cv2.__version__, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
