/**
 * The benchmarks' number options: `positive(name, text, integer)` reads `--name`'s text as a positive
 * number (an integer when asked), and adds a problem naming the flag to `problems` when it is not one.
 */
export function positiveOptions(problems: string[]) {
  return (name: string, text: string | undefined, integer: boolean): number => {
    const value = Number(text);
    if (!(value > 0 && Number.isFinite(value)) || (integer && !Number.isInteger(value))) {
      problems.push(
        `--${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
}
