import { parseArgs } from 'node:util';
import { startSimulator } from '../simulators/comfyui/index.js';
import { joinNegativeNumbers } from './numeric-args.js';

const USAGE = `usage: npm run simulator -- [--port 8188] [--host 127.0.0.1] [--step-ms 50]
                             [--model-switch-ms 0] [--no-previews] [--exclude-node Class]...
                             [--unloadable-model file.safetensors]... [--lora file.safetensors]...`;

function fail(message: string): never {
  process.stderr.write(`simulator: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function nonNegativeInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${raw}'`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeNumbers(process.argv.slice(2), ['port', 'step-ms', 'model-switch-ms']),
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'step-ms': { type: 'string' },
        'model-switch-ms': { type: 'string' },
        'no-previews': { type: 'boolean' },
        'exclude-node': { type: 'string', multiple: true },
        'unloadable-model': { type: 'string', multiple: true },
        lora: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = nonNegativeInt('port', values.port, 8188);
  if (port > 65535) fail(`--port must be at most 65535, got ${port}`);
  const sim = await startSimulator({
    port,
    host: values.host ?? '127.0.0.1',
    stepMs: nonNegativeInt('step-ms', values['step-ms'], 50),
    modelSwitchMs: nonNegativeInt('model-switch-ms', values['model-switch-ms'], 0),
    previews: values['no-previews'] !== true,
    ...(values['exclude-node'] ? { excludeNodes: values['exclude-node'] } : {}),
    ...(values['unloadable-model'] ? { unloadableModels: values['unloadable-model'] } : {}),
    // The files of its models/loras folder (GET /models/loras, LoraLoader's choices) instead of the default.
    ...(values.lora ? { models: { loras: values.lora } } : {}),
  });
  process.stdout.write(
    `ComfyUI SIMULATOR listening on ${sim.url} (not a real ComfyUI: no GPU, images are synthetic)\n`,
  );
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    process.stdout.write(`simulator: ${signal}, closing\n`);
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`simulator: close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => {
    shutdown('SIGINT');
  });
  process.once('SIGTERM', () => {
    shutdown('SIGTERM');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
