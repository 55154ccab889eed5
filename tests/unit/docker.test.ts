// No Docker engine runs here, so this checks what can be checked: everything the Dockerfile and the
// compose file name exists (scripts, build output, configuration keys and values).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envKeys, loadConfig } from '../../src/config.js';

const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

describe('Docker files', () => {
  it('builds with the package scripts and starts the compiled entry point the build writes', () => {
    const dockerfile = read('Dockerfile');
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const m of dockerfile.matchAll(/npm run (\S+)/g)) expect(Object.keys(pkg.scripts)).toContain(m[1]);
    const build = JSON.parse(read('tsconfig.build.json')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(dockerfile).toMatch(/CMD \["node", "dist\/main\.js"\]/);
    expect(read('src/main.ts')).toContain('export async function main');
  });

  it('sets only configuration keys the product reads, with values it accepts', () => {
    const compose = read('docker-compose.yml');
    const keys = new Set(envKeys());
    const blocks = [...compose.matchAll(/environment:\n((?: {6}[A-Z_]+: .+\n)+)/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) {
      const env: Record<string, string> = {};
      for (const line of block.trim().split('\n')) {
        const [k, ...v] = line.trim().split(': ');
        expect(keys.has(k ?? '')).toBe(true);
        env[k ?? ''] = (v.join(': ') || '').replace(/^["']|["']$/g, '');
      }
      expect(() => loadConfig(env)).not.toThrow();
    }
    expect(compose).toMatch(/--appendonly['"], ['"]yes/);
    expect(compose).toMatch(/--maxmemory-policy['"], ['"]noeviction/);
  });
});
