/**
 * What a header says about the video before any picture is decoded: its size and, when known, its
 * duration. Decode hands one to `checkStream` each time a header tells it (the MP4 sample description,
 * the SPS, the MP4 index's duration, the demuxer's stream parameters), so limits hold before a decoder
 * allocates a single frame.
 */
export interface StreamHeader {
  readonly width: number;
  readonly height: number;
  /** Seconds, when the header says. */
  readonly durationS?: number;
  /** Which header said it, for the error message: `the avc1 sample description`, `the SPS`, … */
  readonly from: string;
}
