import { describe, expect, it } from 'vitest';
import { redactingStream } from '../../src/observability/redact.js';

describe('log redaction', () => {
  it('cuts every secret from a log line, wherever it appears', () => {
    const lines: string[] = [];
    const s = redactingStream({ write: (c: string) => lines.push(c) }, [
      '123456:SECRET-token',
      undefined,
      'adm1n-t0ken',
    ]);
    s.write(
      '{"url":"https://api.telegram.org/file/bot123456:SECRET-token/photos/1.jpg","auth":"Bearer adm1n-t0ken"}\n',
    );
    expect(lines[0]).toBe(
      '{"url":"https://api.telegram.org/file/bot[redacted]/photos/1.jpg","auth":"Bearer [redacted]"}\n',
    );
  });

  it('ignores secrets too short to be real, so ordinary words are never cut', () => {
    const lines: string[] = [];
    redactingStream({ write: (c: string) => lines.push(c) }, ['ok']).write('ok done\n');
    expect(lines[0]).toBe('ok done\n');
  });
});
