// Entry point of `npm run generate`: the only place this command touches process globals.
import { resolve } from 'node:path';
import { readEnvFile } from '../config/env-file.js';
import { runGenerateCli } from './generate-command.js';

const cwd = process.cwd();
const env = { ...readEnvFile(resolve(cwd, '.env')), ...process.env };
runGenerateCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env, cwd }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`generate: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
