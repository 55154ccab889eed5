/**
 * `npm run doctor`: holds every workflow and style against each backend's `/object_info` and model
 * lists, naming each missing node class, custom node pack and model file.
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { LoraChoice } from '../config/loras.js';
import { fetchInventory } from '../generation/backend-inventory.js';
import { createJobsApiBackend } from '../generation/backends/jobs-api-backend.js';
import { createComfyClient } from '../generation/comfy/client.js';
import { ComfyError } from '../generation/comfy/errors.js';
import { startSimulator, type Simulator } from '../simulators/comfyui/index.js';
import {
  checkBackendCapabilities,
  createWorkflowCatalog,
  formatCapabilityReport,
} from '../generation/workflows/index.js';
import { startCli } from './cli-start.js';
import type { CliIo } from './generate-command.js';

export const DOCTOR_USAGE = `usage: npm run doctor -- [--backend <url>]... [--simulate]
  Checks every workflow and style against each backend (default: COMFYUI_URLS, else http://127.0.0.1:8188),
  and, without --backend, each job API of JOBS_API_BACKENDS (reachable, key accepted, declared styles known).
  Exit codes: 0 everything can run, 1 something cannot run, 2 bad arguments or config, 3 a backend is unreachable.`;

/**
 * The allowed LoRAs (LORAS) this server lacks. A LoRA kept on only some servers is fine (jobs that pick it
 * go to those), so this names the files without failing the check.
 */
export function loraLines(allowed: readonly LoraChoice[], listed: readonly string[] | undefined): string[] {
  if (allowed.length === 0) return [];
  const have = new Set((listed ?? []).map((f) => f.replaceAll('\\', '/')));
  const missing = allowed.filter((l) => !have.has(l.file));
  if (missing.length === 0) return [`  LoRAs (LORAS): all ${allowed.length} present in models/loras.`];
  return [
    `  LoRAs (LORAS) missing here: ${missing.map((l) => `${l.name} (models/loras/${l.file})`).join(', ')}.`,
    '  Jobs that pick them go to other servers; copy the files into models/loras to serve them here too.',
  ];
}

export async function runDoctorCli(argv: readonly string[], io: CliIo): Promise<number> {
  const started = startCli('doctor', DOCTOR_USAGE, argv, io, {
    backend: { type: 'string', multiple: true },
    simulate: { type: 'boolean' },
  });
  if ('exit' in started) return started.exit;
  const { values, config, print, printErr } = started;
  const { catalog, problems } = await createWorkflowCatalog({
    ...(config.workflowsDir === undefined ? {} : { operatorDir: resolve(io.cwd, config.workflowsDir) }),
  });
  print(`Catalogue: ${catalog.workflows.size} workflows, ${catalog.styles.size} styles.`);
  for (const p of problems) print(`  problem in ${p.file}: ${p.message}`);

  let sim: Simulator | undefined;
  const targets: Array<{ name: string; url: string }> = [];
  try {
    for (const raw of values.backend ?? []) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        printErr(`doctor: --backend must be a URL such as http://127.0.0.1:8188, got '${raw}'`);
        return 2;
      }
      targets.push({ name: url.host, url: url.toString() });
    }
    if (values.simulate === true) {
      sim = await startSimulator({ port: 0, stepMs: 0 });
      targets.push({ name: 'simulator', url: sim.url });
    }
    const fromConfig = targets.length === 0;
    const jobApis = fromConfig ? config.jobsApi.backends : [];
    if (fromConfig) {
      for (const b of config.backends) targets.push({ name: b.name, url: b.url });
      if (targets.length === 0 && jobApis.length === 0) {
        targets.push({ name: '127.0.0.1:8188', url: 'http://127.0.0.1:8188' });
      }
    }
    let exit = problems.length > 0 ? 1 : 0;
    for (const t of targets) {
      const client = createComfyClient({
        baseUrl: t.url,
        name: t.name,
        timeouts: { request: config.comfyTimeoutMs },
      });
      try {
        const stats = await client.systemStats();
        const device = stats.devices[0]?.name ?? 'no device';
        print(`\n${t.name} (${t.url}): ComfyUI ${stats.system.comfyui_version ?? '?'} on ${device}`);
        const inventory = await fetchInventory(client);
        const report = checkBackendCapabilities(catalog, inventory);
        print(formatCapabilityReport(report, t.name));
        for (const line of loraLines(config.loras, inventory.models['loras'])) print(line);
        if (!report.ok) exit = Math.max(exit, 1);
      } catch (err) {
        if (!(err instanceof ComfyError)) throw err;
        print(`\n${t.name} (${t.url}): unreachable: ${err.message}`);
        print('  Start ComfyUI there (python main.py --listen), or fix COMFYUI_URLS / --backend.');
        exit = 3;
      } finally {
        await client.close();
      }
    }
    for (const j of jobApis) {
      // The backend keeps job ids in Redis while jobs run; a health check never touches it, so the
      // connection is never opened and the doctor works without Redis.
      const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      const backend = createJobsApiBackend({
        name: j.name,
        baseUrl: j.url,
        apiKey: j.apiKey,
        keySetting: j.keySetting,
        styles: j.styles,
        redis,
        prefix: config.redis.prefix,
        requestTimeoutMs: config.comfyTimeoutMs,
      });
      try {
        const health = await backend.health();
        if (!health.ok) {
          print(`\n${j.name} (${j.url}): job API not usable: ${health.error ?? 'health check failed'}`);
          exit = 3;
          continue;
        }
        print(`\n${j.name} (${j.url}): job API reachable, key accepted (${health.latencyMs} ms)`);
        const declared = j.styles === 'all' ? [...catalog.styles.keys()].sort() : [...j.styles];
        const unknown = declared.filter((s) => !catalog.styles.has(s));
        print(
          `  Declared styles: ${declared.join(', ')}${j.styles === 'all' ? ' (all: none declared)' : ''}`,
        );
        if (unknown.length > 0) {
          print(
            `  Unknown styles: ${unknown.join(', ')} (not in the catalogue: fix styles= in JOBS_API_BACKENDS)`,
          );
          exit = Math.max(exit, 1);
        }
        print(
          '  A job API lists no nodes or models: make sure its image has what those styles need (README, Workflows and styles).',
        );
      } finally {
        await backend.close();
        redis.disconnect();
      }
    }
    // Said from the manifests, so the line stays true when another workflow is proven on a real server.
    const builtins = [...catalog.workflows.values()].filter((w) => w.source === 'builtin');
    const names = (proven: boolean): string =>
      builtins
        .filter((w) => w.manifest.structurallyCheckedOnly !== proven)
        .map((w) => w.name)
        .sort()
        .join(', ') || 'none';
    print(
      `\nBuilt-in workflows run on a real ComfyUI 0.8.0 (random-weight models): ${names(true)}; ` +
        `checked structurally only: ${names(false)} (README, Status).`,
    );
    return exit;
  } finally {
    await sim?.close();
  }
}
