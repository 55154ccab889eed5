/**
 * `--seed -1` reads as a number to a person but as a second option to `util.parseArgs`, which answers
 * "argument is ambiguous". For the options that take numbers, a following negative number is joined to
 * its option (`--seed=-1`) so it reaches the range check and gets the same message as the joined form.
 */
export function joinNegativeNumbers(argv: readonly string[], numericOptions: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const next = argv[i + 1];
    if (
      next !== undefined &&
      /^-(\d|\.\d)/.test(next) &&
      arg.startsWith('--') &&
      numericOptions.includes(arg.slice(2))
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}
