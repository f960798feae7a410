/** Codes of the `ModelError`s thrown while loading and running models (re-exported by model.ts). */
export const modelCodes = {
  notFound: 'FF_ERR_MODEL_NOT_FOUND',
  invalid: 'FF_ERR_MODEL_INVALID',
  input: 'FF_ERR_MODEL_INPUT',
  output: 'FF_ERR_MODEL_OUTPUT',
  run: 'FF_ERR_MODEL_RUN',
} as const;
