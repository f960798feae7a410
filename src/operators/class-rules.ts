import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { map, type OperatorFunction } from 'rxjs';
import { NonEmptyString, NonNegativeInt, NonNegativeNumber } from '../core/codecs.js';
import { formatValidationErrors } from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';

/** Stable codes of the class rules (besides FF_ERR_INVALID_OPTION for a malformed rules object). */
export const classRuleCodes = {
  /** The class map names classes the model does not have (every such name is listed). */
  unknownClass: codes.config.unknownClass,
} as const;

const AnswerClassCodec = t.type({ id: NonNegativeInt, name: NonEmptyString }, 'an answer class { id, name }');
const MinSizeCodec = t.exact(
  t.partial({ width: NonNegativeNumber, height: NonNegativeNumber }),
  'a minimum size { width, height }',
);

/**
 * Per-class rules as a pipeline document writes them (YAML):
 *
 * ```yaml
 * classes:
 *   map: { person: { id: 2, name: player }, sports ball: { id: 0, name: ball } }
 *   maxPerClass: { ball: 1 }
 *   minSize: { player: { width: 15, height: 40 } }
 * ```
 *
 * `map` is keyed by the model's class names; `maxPerClass` and `minSize` by the answer's (the map's
 * `name`s, or the model's names when there is no map).
 */
export const ClassRulesCodec = t.exact(
  t.partial({
    map: t.record(t.string, AnswerClassCodec),
    maxPerClass: t.record(t.string, NonNegativeInt),
    minSize: t.record(t.string, MinSizeCodec),
  }),
  'class rules { map, maxPerClass, minSize }',
);

export type ClassRulesOptions = t.TypeOf<typeof ClassRulesCodec>;

/** What the rules read of an object: a detection, tracked or filled (`source`), or not. */
export interface RuleObject {
  readonly bbox: readonly [number, number, number, number];
  readonly classId: number;
  readonly className: string;
  readonly score: number;
  readonly source?: 'inferred' | 'interpolated' | 'extrapolated';
}

/** Compiled rules: each function returns a new array and never changes the objects it is given. */
export interface ClassRules {
  /** Model classes to answer classes; objects of classes the map does not name are dropped. */
  map<T extends RuleObject>(objects: readonly T[]): T[];
  /**
   * Minimum sizes, then at most N per class, on objects already in the answer's classes (e.g. a filled
   * frame's objects: running `map` on them again would drop them all).
   */
  limit<T extends RuleObject>(objects: readonly T[]): T[];
  /** `map`, then `limit`. */
  apply<T extends RuleObject>(objects: readonly T[]): T[];
}

/**
 * Checks a rules object from a document (`classes` of a pipeline document, or any value): every problem at
 * once, each with its path, `classes.map.person.id: expected an integer >= 0, got -1`.
 */
export function decodeClassRules(value: unknown, path = 'classes'): ClassRulesOptions {
  const problems: string[] = [];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const known = ['map', 'maxPerClass', 'minSize'];
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        problems.push(`${path}.${key}: unknown key; expected one of ${known.join(', ')}`);
    }
    const sizes = (value as { minSize?: unknown }).minSize;
    if (typeof sizes === 'object' && sizes !== null) {
      for (const [name, size] of Object.entries(sizes)) {
        if (typeof size !== 'object' || size === null) continue;
        for (const key of Object.keys(size)) {
          if (key !== 'width' && key !== 'height') {
            problems.push(`${path}.minSize.${name}.${key}: unknown key; expected one of width, height`);
          }
        }
      }
    }
  }
  const decoded = ClassRulesCodec.decode(value);
  if (isLeft(decoded)) problems.push(...formatValidationErrors(decoded.left, path));
  if (problems.length > 0 || isLeft(decoded)) {
    throw new ConfigError(codes.config.invalidOption, problems, { stage: 'classes' });
  }
  return decoded.right;
}

/**
 * The class map's names that are not among the model's class names, in the map's order. The caller makes
 * a configuration error of them ({@link compileClassRules} does).
 */
export function unknownClassNames(
  classMap: Readonly<Record<string, unknown>> | undefined,
  modelClassNames: readonly string[],
): string[] {
  const known = new Set(modelClassNames);
  return Object.keys(classMap ?? {}).filter((name) => !known.has(name));
}

const SOURCE_RANK = { inferred: 0, interpolated: 1, extrapolated: 2 } as const;

/**
 * At most `limitOf(classId)` objects of each class id (no limit where it returns undefined), in their
 * original order. The kept ones are the most trustworthy: inferred before interpolated before
 * extrapolated (an object without `source` counts as inferred), then the highest score, then the first.
 */
export function keepBestPerClass<T extends RuleObject>(
  objects: readonly T[],
  limitOf: (classId: number) => number | undefined,
): T[] {
  const byClass = new Map<number, number[]>();
  objects.forEach((object, index) => {
    if (limitOf(object.classId) === undefined) return;
    const members = byClass.get(object.classId);
    if (members) members.push(index);
    else byClass.set(object.classId, [index]);
  });
  const dropped = new Set<number>();
  for (const [classId, members] of byClass) {
    const limit = limitOf(classId) ?? Infinity;
    if (members.length <= limit) continue;
    const rank = (index: number) => SOURCE_RANK[objects[index]!.source ?? 'inferred'] ?? 0;
    const score = (index: number) => {
      const value = objects[index]!.score;
      return Number.isFinite(value) ? value : -Infinity;
    };
    members.sort((p, q) => rank(p) - rank(q) || score(q) - score(p) || p - q);
    for (const index of members.slice(limit)) dropped.add(index);
  }
  return objects.filter((_, index) => !dropped.has(index));
}

/**
 * Rules ready to run. Validates against the model's class names when they are known: class-map names the
 * model does not have are a `ConfigError` with code `FF_ERR_UNKNOWN_CLASS` listing every one of them;
 * other problems (two model classes mapped to one id under two names, `maxPerClass` / `minSize` naming a
 * class the answer never has) are `FF_ERR_INVALID_OPTION`. All problems are reported at once.
 *
 * @example
 * const rules = compileClassRules({ map: { person: { id: 2, name: 'player' } } }, model.layout.classNames);
 * rules.apply(result.objects);
 */
export function compileClassRules(
  options: ClassRulesOptions,
  modelClassNames?: readonly string[],
  path = 'classes',
): ClassRules {
  const problems: string[] = [];
  const unknown = modelClassNames ? unknownClassNames(options.map, modelClassNames) : [];
  if (unknown.length > 0) {
    problems.push(
      `${path}.map: ${unknown.map((name) => JSON.stringify(name)).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not ` +
        `among the model's classes (${modelClassNames!.map((name) => JSON.stringify(name)).join(', ')})`,
    );
  }
  const classMap = options.map ? new Map(Object.entries(options.map)) : undefined;
  const nameOfId = new Map<number, string>();
  for (const [modelName, target] of classMap ?? []) {
    const other = nameOfId.get(target.id);
    if (other !== undefined && other !== target.name) {
      problems.push(
        `${path}.map.${modelName}: id ${target.id} is already named ${JSON.stringify(other)}, got ${JSON.stringify(target.name)}`,
      );
    } else nameOfId.set(target.id, target.name);
  }
  const answerNames = classMap
    ? new Set([...classMap.values()].map((target) => target.name))
    : modelClassNames
      ? new Set(modelClassNames)
      : undefined;
  for (const key of ['maxPerClass', 'minSize'] as const) {
    for (const name of Object.keys(options[key] ?? {})) {
      if (answerNames && !answerNames.has(name)) {
        problems.push(
          `${path}.${key}.${name}: not a class of the answer (${[...answerNames].map((known) => JSON.stringify(known)).join(', ')})`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      unknown.length > 0 ? classRuleCodes.unknownClass : codes.config.invalidOption,
      problems,
      {
        stage: 'classes',
        ...(unknown.length > 0 ? { unknownClasses: unknown } : {}),
      },
    );
  }

  // Limits and sizes are written by answer class name; objects are grouped by class id, so an id's name is
  // taken from the map, or else from the first object of that id seen.
  const maxByName = new Map(Object.entries(options.maxPerClass ?? {}));
  const sizeByName = new Map(Object.entries(options.minSize ?? {}));

  const mapObjects = <T extends RuleObject>(objects: readonly T[]): T[] => {
    if (!classMap) return [...objects];
    const out: T[] = [];
    for (const object of objects) {
      const target = classMap.get(object.className);
      if (target) out.push({ ...object, classId: target.id, className: target.name });
    }
    return out;
  };

  const limitObjects = <T extends RuleObject>(objects: readonly T[]): T[] => {
    const sized =
      sizeByName.size === 0
        ? objects
        : objects.filter((object) => {
            const size = sizeByName.get(object.className);
            if (!size) return true;
            const [x1, y1, x2, y2] = object.bbox;
            // NaN compares false: a box without a size is not big enough.
            return x2 - x1 >= (size.width ?? 0) && y2 - y1 >= (size.height ?? 0);
          });
    if (maxByName.size === 0) return [...sized];
    const nameOf = new Map<number, string>();
    for (const object of sized) if (!nameOf.has(object.classId)) nameOf.set(object.classId, object.className);
    return keepBestPerClass(sized, (classId) => {
      const name = nameOfId.get(classId) ?? nameOf.get(classId);
      return name === undefined ? undefined : maxByName.get(name);
    });
  };

  return {
    map: mapObjects,
    limit: limitObjects,
    apply: (objects) => limitObjects(mapObjects(objects)),
  };
}

/**
 * Applies per-class rules to every result: the class map (model classes to the answer's ids and names,
 * other classes dropped), minimum box sizes, and at most N per class (the best ones kept).
 *
 * One result out per result in, at once, with the same fields and only `objects` changed. Put it before
 * the tracker, so that the tracker never follows a class the answer drops.
 *
 * ```text
 * results:  -a-b-c-|       a: person, person, sports ball, sports ball, car
 * classRules({ map: { person: { id: 2, name: 'player' }, 'sports ball': { id: 0, name: 'ball' } },
 *              maxPerClass: { ball: 1 } })
 * result:   -A-B-C-|       A: player, player, ball (the better of the two)
 * ```
 *
 * @example results$.pipe(classRules(profile.classes, detector.layout.classNames), track())
 * @returns an operator from results to results of the same type; bad rules throw a `ConfigError` here,
 *   before anything runs (see {@link compileClassRules}).
 */
export function classRules<R extends { readonly objects: readonly RuleObject[] }>(
  options: ClassRulesOptions,
  modelClassNames?: readonly string[],
): OperatorFunction<R, R> {
  const rules = compileClassRules(options, modelClassNames);
  return map((result) => ({ ...result, objects: rules.apply(result.objects) }));
}
