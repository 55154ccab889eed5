#!/usr/bin/env node
// The package mirror this project is built against lacks some platform-only optional packages
// (for example @msgpackr-extract/msgpackr-extract-darwin-arm64). `npm install` then leaves them out of
// package-lock.json and `npm ci` refuses the lock as "out of sync". This adds the missing entries with their
// os/cpu so npm ci on Linux skips them, exactly as a lock written against the full registry would.
// Run after every `npm install`: `node scripts/complete-lock.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
const PLATFORM = /-(darwin|linux|win32|freebsd|android)-(arm64|x64|arm|ia32)$/;
const added = [];
const out = {};
for (const [path, entry] of Object.entries(packages)) {
  out[path] = entry;
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const depPath = `node_modules/${dep}`;
    const match = PLATFORM.exec(dep);
    if (match === null || packages[depPath] !== undefined || out[depPath] !== undefined) continue;
    out[depPath] = { version, cpu: [match[2]], license: entry.license, optional: true, os: [match[1]] };
    added.push(`${dep}@${version}`);
  }
}
const sorted = Object.fromEntries(
  Object.entries(out).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
lock.packages = sorted;
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length === 0 ? 'lock complete' : `added ${added.length}: ${added.join(', ')}`);
