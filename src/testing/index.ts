/**
 * `firstframe/testing`: test your pipelines and operators without a video or a model file. A fake model
 * (results from a function, its run time on the rxjs scheduler), a frame factory, and whole prepared
 * pipelines run in virtual time (rxjs's TestScheduler), where every time-based stage takes exact virtual
 * milliseconds. See the README's "Testing your pipeline".
 */

export { frames, type FramesOptions } from './frames.js';
export {
  fakeModel,
  fakeModelCodes,
  type FakeBatch,
  type FakeModel,
  type FakeModelOptions,
  type FakeRun,
} from './fake-model.js';
export {
  prepareVirtual,
  runInVirtualTime,
  type PrepareVirtualOptions,
  type TimedEvent,
  type TimedModelRun,
  type TimedResult,
  type VirtualDocument,
  type VirtualFrames,
  type VirtualRun,
  type VirtualRunOptions,
} from './virtual-run.js';
export { VIRTUAL_OPERATOR, testingCodes, virtualDecode, virtualSource } from './virtual-stages.js';
export { withClock, realClock, type Clock } from '../core/clock.js';
