/**
 * A refusal to start that the operator fixes (a missing key, a busy port, no Redis): main prints the message
 * alone, without a stack, and exits with the code (2: the configuration, 1: the environment).
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
