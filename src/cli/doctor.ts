// Entry point of `npm run doctor`: the only place this command touches process globals.
import { resolve } from 'node:path';
import { readEnvFile } from '../config/env-file.js';
import { runDoctorCli } from './doctor-command.js';

const cwd = process.cwd();
const env = { ...readEnvFile(resolve(cwd, '.env')), ...process.env };
runDoctorCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env, cwd }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`doctor: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
