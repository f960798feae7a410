import type { SessionContext } from '../../../src/operators/decode/context.js';
import type { ResourceInfo } from '../../../src/sources/types.js';

/** A session context that records what the part under test tells it. */
export interface RecordingContext extends SessionContext {
  active: boolean;
  resource: ResourceInfo | undefined;
  readonly events: { name: string; data: Record<string, unknown> }[];
  readonly failures: unknown[];
  /** The events named `name`, their data in order. */
  named(name: string): Record<string, unknown>[];
}

export function recordingContext(resource?: Partial<ResourceInfo>): RecordingContext {
  const events: { name: string; data: Record<string, unknown> }[] = [];
  const failures: unknown[] = [];
  const context: RecordingContext = {
    active: true,
    resource: resource ? ({ url: 'http://127.0.0.1/clip.mp4', ...resource } as ResourceInfo) : undefined,
    events,
    failures,
    emit: (name, data = {}) => events.push({ name, data }),
    fail: (error) => {
      if (!context.active) return;
      failures.push(error);
      context.active = false;
    },
    located: (error) => error,
    where: () => context.resource?.url ?? 'decode',
    named: (name) => events.filter((event) => event.name === name).map((event) => event.data),
  };
  return context;
}
