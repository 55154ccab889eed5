// Entry point of `npm run report`: the only place this command touches process globals.
import { resolve } from 'node:path';
import { readEnvFile } from '../config/env-file.js';
import { runReportCli } from './report-command.js';

const cwd = process.cwd();
const env = { ...readEnvFile(resolve(cwd, '.env')), ...process.env };
runReportCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env, cwd }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`report: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
