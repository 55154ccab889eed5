import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { CliIo } from './generate-command.js';

type CliOptions = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends CliOptions> = O & { help: { type: 'boolean'; short: 'h' } };
type CliArgs<O extends CliOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; strict: true; allowPositionals: false }>
>['values'];

/** What a command runs with once its arguments and the configuration are read. */
export interface CliStarted<O extends CliOptions> {
  readonly values: CliArgs<O>;
  readonly config: Config;
  readonly print: (s: string) => void;
  readonly printErr: (s: string) => void;
}

/**
 * The start every operator command shares: its options (plus --help), then the same configuration as the
 * product reads. Returns the exit code instead when the command ends here: 0 after --help, 2 for bad
 * arguments or configuration (named on stderr, prefixed with the command's name).
 */
export function startCli<O extends CliOptions>(
  command: string,
  usage: string,
  argv: readonly string[],
  io: CliIo,
  options: O,
): CliStarted<O> | { readonly exit: number } {
  const print = (s: string): void => void io.stdout.write(`${s}\n`);
  const printErr = (s: string): void => void io.stderr.write(`${s}\n`);
  let values: CliArgs<O>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    printErr(`${command}: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return { exit: 2 };
  }
  // TypeScript cannot read a key of the parsed values while the options are still a type parameter.
  if ((values as { help?: boolean }).help === true) {
    print(usage);
    return { exit: 0 };
  }
  try {
    return { values, config: loadConfig(io.env), print, printErr };
  } catch (err) {
    if (err instanceof ConfigError) {
      printErr(`${command}: ${err.message}`);
      return { exit: 2 };
    }
    throw err;
  }
}
