import { describe, expect, it } from 'vitest';
import { isFirstframeError } from '../../src/core/errors.js';
import {
  classRules,
  classRuleCodes,
  compileClassRules,
  decodeClassRules,
  keepBestPerClass,
  unknownClassNames,
  type RuleObject,
} from '../../src/operators/class-rules.js';
import { marbleScheduler } from '../support/marbles.js';

const COCO = ['person', 'bicycle', 'car', 'sports ball'];
const COCO_TO_SN44 = {
  person: { id: 2, name: 'player' },
  'sports ball': { id: 0, name: 'ball' },
};

const object = (
  className: string,
  classId: number,
  score: number,
  size: [number, number] = [20, 50],
  source?: RuleObject['source'],
): RuleObject & { tag: string } => ({
  bbox: [10, 10, 10 + size[0], 10 + size[1]],
  classId,
  className,
  score,
  tag: `${className}@${score}`,
  ...(source ? { source } : {}),
});

function thrown(run: () => unknown): { code: string; message: string; context: Record<string, unknown> } {
  try {
    run();
  } catch (error) {
    if (isFirstframeError(error)) return { code: error.code, message: error.message, context: error.context };
    throw error;
  }
  throw new Error('did not throw');
}

describe('class rules', () => {
  it('maps a COCO detector to the answer classes, drops the others, keeps one ball (the best)', () => {
    const rules = compileClassRules({ map: COCO_TO_SN44, maxPerClass: { ball: 1 } }, COCO);
    const out = rules.apply([
      object('person', 0, 0.9),
      object('car', 2, 0.95),
      object('sports ball', 3, 0.4, [6, 6]),
      object('person', 0, 0.6),
      object('sports ball', 3, 0.7, [6, 6]),
    ]);
    expect(out.map((o) => [o.classId, o.className, o.tag])).toEqual([
      [2, 'player', 'person@0.9'],
      [2, 'player', 'person@0.6'],
      [0, 'ball', 'sports ball@0.7'],
    ]);
  });

  it('minimum sizes per answer class, in source pixels (width and height each)', () => {
    const rules = compileClassRules(
      { map: COCO_TO_SN44, minSize: { player: { width: 15, height: 40 } } },
      COCO,
    );
    const out = rules.apply([
      object('person', 0, 0.9, [15, 40]),
      object('person', 0, 0.8, [14.9, 80]),
      object('person', 0, 0.7, [30, 39]),
      object('sports ball', 3, 0.5, [4, 4]),
    ]);
    expect(out.map((o) => o.tag)).toEqual(['person@0.9', 'sports ball@0.5']);
    const nan = rules.limit([{ ...object('player', 2, 0.9), bbox: [NaN, 0, 100, 100] }]);
    expect(nan).toEqual([]);
  });

  it('without a map: the model classes pass, limits by the model names', () => {
    const rules = compileClassRules({ maxPerClass: { 'sports ball': 1, person: 2 } }, COCO);
    const out = rules.apply([
      object('person', 0, 0.5),
      object('person', 0, 0.9),
      object('sports ball', 3, 0.2),
      object('person', 0, 0.7),
      object('car', 2, 0.3),
      object('sports ball', 3, 0.3),
    ]);
    expect(out.map((o) => o.tag)).toEqual(['person@0.9', 'person@0.7', 'car@0.3', 'sports ball@0.3']);
    expect(
      compileClassRules({})
        .apply([object('x', 7, 0.1)])
        .map((o) => o.tag),
    ).toEqual(['x@0.1']);
  });

  it('limit keeps inferred before interpolated before extrapolated, then the best score, then the first', () => {
    const rules = compileClassRules({ maxPerClass: { ball: 1 } }, ['ball', 'player']);
    const pick = (objects: RuleObject[]) =>
      rules.limit(objects).map((o) => (o as unknown as { tag: string }).tag);
    expect(
      pick([object('ball', 0, 0.9, [5, 5], 'extrapolated'), object('ball', 0, 0.2, [5, 5], 'interpolated')]),
    ).toEqual(['ball@0.2']);
    expect(pick([object('ball', 0, 0.1, [5, 5]), object('ball', 0, 0.9, [5, 5], 'interpolated')])).toEqual([
      'ball@0.1',
    ]);
    expect(
      pick([object('ball', 0, 0.5), { ...object('ball', 0, 0.5), tag: 'second' } as RuleObject]),
    ).toEqual(['ball@0.5']);
  });

  it('maxPerClass 0 drops the class; keepBestPerClass leaves unlimited classes alone and in order', () => {
    const rules = compileClassRules({ maxPerClass: { car: 0 } }, COCO);
    expect(rules.apply([object('car', 2, 0.9), object('person', 0, 0.9)]).map((o) => o.tag)).toEqual([
      'person@0.9',
    ]);
    const objects = [object('a', 0, 0.1), object('b', 1, 0.3), object('a', 0, NaN), object('a', 0, 0.2)];
    expect(keepBestPerClass(objects, (id) => (id === 0 ? 1 : undefined)).map((o) => o.tag)).toEqual([
      'b@0.3',
      'a@0.2',
    ]);
  });

  it('never changes the objects it is given', () => {
    const input = [object('person', 0, 0.9)];
    const copy = structuredClone(input);
    compileClassRules({ map: COCO_TO_SN44 }, COCO).apply(input);
    expect(input).toEqual(copy);
  });
});

describe('class rule validation', () => {
  it('unknownClassNames lists the map names the model does not have, in the map order', () => {
    expect(unknownClassNames({ person: 1, sportsball: 2, Person: 3 }, COCO)).toEqual([
      'sportsball',
      'Person',
    ]);
    expect(unknownClassNames(undefined, COCO)).toEqual([]);
  });

  it('a class map naming classes the model lacks is a configuration error listing every one', () => {
    const error = thrown(() =>
      compileClassRules(
        {
          map: {
            person: { id: 2, name: 'player' },
            ball: { id: 0, name: 'ball' },
            goalie: { id: 1, name: 'goalkeeper' },
          },
        },
        COCO,
      ),
    );
    expect(error.code).toBe(classRuleCodes.unknownClass);
    expect(error.code).toBe('FF_ERR_UNKNOWN_CLASS');
    expect(error.message).toBe(
      'classes.map: "ball", "goalie" are not among the model\'s classes ("person", "bicycle", "car", "sports ball")',
    );
    expect(error.context).toEqual({ stage: 'classes', unknownClasses: ['ball', 'goalie'] });
  });

  it('other problems: one id under two names, limits for classes the answer never has', () => {
    const error = thrown(() =>
      compileClassRules(
        {
          map: { person: { id: 2, name: 'player' }, bicycle: { id: 2, name: 'cyclist' } },
          maxPerClass: { ball: 1 },
          minSize: { person: { width: 1 } },
        },
        COCO,
      ),
    );
    expect(error.code).toBe('FF_ERR_INVALID_OPTION');
    expect(error.message.split('\n')).toEqual([
      'classes.map.bicycle: id 2 is already named "player", got "cyclist"',
      'classes.maxPerClass.ball: not a class of the answer ("player", "cyclist")',
      'classes.minSize.person: not a class of the answer ("player", "cyclist")',
    ]);
  });

  it('without the model names, the map is not checked against them', () => {
    expect(() => compileClassRules({ map: { anything: { id: 0, name: 'ball' } } })).not.toThrow();
  });

  it('decodeClassRules reports every problem with its path', () => {
    const error = thrown(() =>
      decodeClassRules({
        map: { person: { id: -1, name: 'player' }, ball: 3 },
        maxPerClass: { ball: 1.5 },
        minSize: { player: { width: 15, heigth: 40 } },
        extra: true,
      }),
    );
    expect(error.code).toBe('FF_ERR_INVALID_OPTION');
    expect(error.message.split('\n')).toEqual([
      'classes.extra: unknown key; expected one of map, maxPerClass, minSize',
      'classes.minSize.player.heigth: unknown key; expected one of width, height',
      'classes.map.person.id: expected an integer >= 0, got -1',
      'classes.map.ball: expected an answer class { id, name }, got 3',
      'classes.maxPerClass.ball: expected an integer >= 0, got 1.5',
    ]);
    expect(decodeClassRules({ map: COCO_TO_SN44, maxPerClass: { ball: 1 } })).toEqual({
      map: COCO_TO_SN44,
      maxPerClass: { ball: 1 },
    });
    expect(thrown(() => decodeClassRules([])).message).toBe(
      'classes: expected class rules { map, maxPerClass, minSize }, got []',
    );
  });
});

describe('classRules operator', () => {
  const frame = (objects: RuleObject[]) => ({ frameNumber: 0, objects });
  const a = frame([object('person', 0, 0.9), object('car', 2, 0.8)]);
  const b = frame([object('sports ball', 3, 0.2, [6, 6]), object('sports ball', 3, 0.6, [6, 6])]);
  const mapped = (input: typeof a) => ({
    ...input,
    objects: compileClassRules({ map: COCO_TO_SN44, maxPerClass: { ball: 1 } }, COCO).apply(input.objects),
  });
  const values = { a, b };
  const outputs = { A: mapped(a), B: mapped(b) };
  const operator = () => classRules<typeof a>({ map: COCO_TO_SN44, maxPerClass: { ball: 1 } }, COCO);

  it('maps each result at once, one out per one in', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-a-|', values);
      const e1subs = '   ^------!';
      const expected = ' -A-B-A-|';
      expectObservable(e1.pipe(operator())).toBe(expected, outputs);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
    expect(outputs.A.objects.map((o) => o.className)).toEqual(['player']);
    expect(outputs.B.objects.map((o) => [o.className, o.score])).toEqual([['ball', 0.6]]);
  });

  it('one value, empty, never, never-ending', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-(a|)', values).pipe(operator())).toBe('-(A|)', outputs);
      expectObservable(cold<typeof a>('|').pipe(operator())).toBe('|');
      expectObservable(cold<typeof a>('-').pipe(operator())).toBe('-');
      expectObservable(cold('-a-b-', values).pipe(operator())).toBe('-A-B-', outputs);
    });
  });

  it('passes errors on and unsubscribes early', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a-#', values);
      expectObservable(e1.pipe(operator())).toBe('-A-#', outputs);
      const e2 = cold(' -a-b-a-|', values);
      const unsub = '   ---!';
      expectObservable(e2.pipe(operator()), unsub).toBe('-A-', outputs);
      expectSubscriptions(e2.subscriptions).toBe('^--!');
    });
  });

  it('bad rules throw at construction, before anything is subscribed', () => {
    expect(() => classRules({ map: { cat: { id: 0, name: 'ball' } } }, COCO)).toThrowError(
      'classes.map: "cat" is not among the model\'s classes ("person", "bicycle", "car", "sports ball")',
    );
  });
});
