import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { ENV_NAMES, readEnvConfig } from '../../src/core/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    readEnvConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_CONFIG_ENV');
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('readEnvConfig', () => {
  it('knows every variable the miners use', () => {
    expect([...ENV_NAMES].sort()).toEqual(
      [
        'PARTIAL_DOWNLOAD',
        'PARTIAL_DOWNLOAD_MB',
        'CHUNKED_STREAMING',
        'STREAMING_DOWNLOAD',
        'STREAM_MIN_START_BYTES',
        'STREAM_BUFFER_TIMEOUT_S',
        'DEVICE',
        'IMG_SIZE',
        'BATCH_SIZE',
        'FRAME_STRIDE',
        'PREFETCH_FRAMES',
        'RAMP_UP',
        'RAMP_UP_FIRST_BATCH',
        'DISABLE_TRACKING',
        'SKIP_PITCH',
        'CONF_THRESHOLD',
        'MAX_DETECTIONS',
        'TIME_BUDGET_S',
        'START_BUDGET_AFTER_FIRST_FRAME',
        'EARLY_FLUSH_FIRST_FRAME',
        'USE_NVDEC',
        'NVDEC_FIXED_SCALE',
        'NVDEC_OUT_W',
        'NVDEC_OUT_H',
      ].sort(),
    );
  });

  it('parses typed values and leaves unset variables out', () => {
    const config = readEnvConfig({
      PARTIAL_DOWNLOAD: 'true',
      PARTIAL_DOWNLOAD_MB: '2.5',
      BATCH_SIZE: '64',
      IMG_SIZE: '384',
      DEVICE: 'CUDA:1',
      CONF_THRESHOLD: '0.25',
      RAMP_UP: '0',
      USE_NVDEC: 'off',
      TIME_BUDGET_S: '1.5',
      STREAM_MIN_START_BYTES: '262144',
      HOME: '/root',
    });
    expect(config).toEqual({
      PARTIAL_DOWNLOAD: true,
      PARTIAL_DOWNLOAD_MB: 2.5,
      BATCH_SIZE: 64,
      IMG_SIZE: 384,
      DEVICE: 'cuda:1',
      CONF_THRESHOLD: 0.25,
      RAMP_UP: false,
      USE_NVDEC: false,
      TIME_BUDGET_S: 1.5,
      STREAM_MIN_START_BYTES: 262144,
    });
  });

  it('reports every bad variable at once, each with what it expects', () => {
    expect(
      problemsOf({
        PARTIAL_DOWNLOAD_MB: 'abc',
        BATCH_SIZE: '0',
        IMG_SIZE: '500',
        CONF_THRESHOLD: '1.5',
        RAMP_UP: 'maybe',
        DEVICE: 'tpu',
        FRAME_STRIDE: '2.5',
      }),
    ).toEqual([
      'PARTIAL_DOWNLOAD_MB: expected a positive number, got "abc"',
      'DEVICE: expected cpu, cuda or cuda:N, got "tpu"',
      'IMG_SIZE: expected a positive multiple of 32, got "500"',
      'BATCH_SIZE: expected a positive integer, got "0"',
      'FRAME_STRIDE: expected a positive integer, got "2.5"',
      'RAMP_UP: expected a boolean (1/0, true/false, yes/no, on/off), got "maybe"',
      'CONF_THRESHOLD: expected a number between 0 and 1, got "1.5"',
    ]);
  });

  it('rejects numbers with trailing junk and non-finite values', () => {
    expect(problemsOf({ BATCH_SIZE: '16px', TIME_BUDGET_S: 'Infinity', PARTIAL_DOWNLOAD_MB: '-1' })).toEqual([
      'PARTIAL_DOWNLOAD_MB: expected a positive number, got "-1"',
      'BATCH_SIZE: expected a positive integer, got "16px"',
      'TIME_BUDGET_S: expected a positive number, got "Infinity"',
    ]);
  });
});
