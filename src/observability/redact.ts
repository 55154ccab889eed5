/** A stream that replaces every occurrence of the given secrets with `[redacted]`. */
export function redactingStream(
  out: { write(chunk: string): unknown },
  secrets: readonly (string | undefined)[],
): { write(chunk: string): void } {
  const list = secrets.filter((x): x is string => x !== undefined && x.length >= 6);
  return {
    write(chunk: string) {
      let line = chunk;
      for (const secret of list) line = line.split(secret).join('[redacted]');
      out.write(line);
    },
  };
}
