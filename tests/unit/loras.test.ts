// The pieces of member-picked LoRAs that need no Redis: the LORAS key, the --lora and loras= grammar,
// the LoRA chain and trigger words resolveRequest builds, the scope rules and doctor's lines.
import { beforeAll, describe, expect, it } from 'vitest';
import { loraLines } from '../../src/cli/doctor-command.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { checkScopeLoras, lorasAllowedHere, readAllowedLoras } from '../../src/core/lora-rules.js';
import { parseCommand } from '../../src/core/parse-command.js';
import { parseLoraPicks } from '../../src/core/parse/lora.js';
import {
  createWorkflowCatalog,
  resolveRequest,
  type WorkflowCatalog,
} from '../../src/generation/workflows/index.js';
import { LORAS_ENV } from '../helpers/loras.js';

let catalog: WorkflowCatalog;
beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog());
});

const allowlist = () => loadConfig({ LORAS: LORAS_ENV }).loras;

describe('LORAS', () => {
  it('reads the JSON allowlist, sorted by name, with the defaults filled in', () => {
    const loras = allowlist();
    expect(loras.map((l) => l.name)).toEqual(['anime', 'detail', 'fluxy', 'ghost']);
    expect(loras.find((l) => l.name === 'ghost')).toEqual({
      name: 'ghost',
      file: 'ghost.safetensors',
      trigger: '',
      default: 1,
      min: 0,
      max: 1,
    });
    expect(loadConfig({}).loras).toEqual([]);
  });

  it.each([
    ['not JSON', '{detail:', /must be JSON/],
    ['a file outside the loras folder', '{"x":{"file":"../x.safetensors"}}', /\.\./],
    ['a file that is no model', '{"x":{"file":"x.txt"}}', /^x\.file: .*safetensors/],
    ['a name members cannot type', '{"Bad Name":{"file":"x.safetensors"}}', /^Bad Name: .*lower-case/],
    [
      'a default outside its range',
      '{"x":{"file":"x.safetensors","default":2,"max":1}}',
      /min ≤ default ≤ max/,
    ],
    ['an unknown field', '{"x":{"file":"x.safetensors","strength":1}}', /strength|unrecognized/i],
  ])('refuses %s, naming the LORAS key', (_what, value, message) => {
    let err: unknown;
    try {
      loadConfig({ LORAS: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues.find((i) => i.key === 'LORAS');
    expect(issue?.message).toMatch(message);
  });
});

describe('--lora and loras= grammar', () => {
  const ok = (text: string) => {
    const r = parseCommand(text);
    if (!r.ok) throw new Error(`${text}: ${r.error.key}`);
    return r.intent;
  };

  it('adds one LoRA per flag, with an optional strength (negative, or with a decimal comma)', () => {
    expect(ok('/imagine a fox --lora detail:0.8 --lora=Anime --lora noise:-0,5')).toMatchObject({
      kind: 'imagine',
      prompt: 'a fox',
      options: {
        loras: [{ name: 'detail', strength: 0.8 }, { name: 'anime' }, { name: 'noise', strength: -0.5 }],
      },
    });
    expect(ok('/portrait knight --lora detail')).toMatchObject({ options: { loras: [{ name: 'detail' }] } });
    expect(parseLoraPicks('detail:0,8, anime:1')).toEqual([
      { name: 'detail', strength: 0.8 },
      { name: 'anime', strength: 1 },
    ]);
  });

  it('refuses an unreadable pick or too many, naming the form', () => {
    const bad = parseCommand('/imagine a fox --lora detail:lots');
    expect(bad.ok ? undefined : bad.error).toMatchObject({ code: 'bad_flag_value', key: 'parse.flag_lora' });
    const many = parseCommand(`/imagine a fox ${'--lora a '.repeat(9)}`);
    expect(many.ok ? undefined : many.error).toMatchObject({
      key: 'parse.lora_too_many',
      params: { max: 8 },
    });
    const empty = parseCommand('/imagine a fox --lora');
    expect(empty.ok).toBe(false);
  });

  it('reads /loras and loras= in /limits settings', () => {
    expect(ok('/loras')).toEqual({ kind: 'loras' });
    expect(parseCommand('/loras detail').ok).toBe(false);
    expect(ok('/limits settings loras=detail,Anime')).toEqual({
      kind: 'limits',
      limits: { op: 'settings', change: { allowedLoras: ['detail', 'anime'] } },
    });
    const bad = parseCommand('/limits settings loras=de!tail');
    expect(bad.ok ? undefined : bad.error.key).toBe('parse.loras_list');
  });

  it('reads a list typed with a space after (or before) each comma, in --lora and in loras=', () => {
    expect(ok('/imagine a fox --lora detail:0.8, anime --seed 2')).toMatchObject({
      prompt: 'a fox',
      options: { loras: [{ name: 'detail', strength: 0.8 }, { name: 'anime' }], seed: 2 },
    });
    expect(ok('/imagine --loras detail , anime a fox')).toMatchObject({
      prompt: 'a fox',
      options: { loras: [{ name: 'detail' }, { name: 'anime' }] },
    });
    // A comma closing the prompt's last word before the flag stays the prompt's.
    expect(ok('/imagine a fox, at dusk --lora detail,')).toMatchObject({
      prompt: 'a fox, at dusk',
      options: { loras: [{ name: 'detail' }] },
    });
    expect(ok('/limits settings loras=detail, Anime previews=off')).toEqual({
      kind: 'limits',
      limits: { op: 'settings', change: { allowedLoras: ['detail', 'anime'], previews: false } },
    });
    expect(ok('/limits settings loras=detail , anime')).toEqual({
      kind: 'limits',
      limits: { op: 'settings', change: { allowedLoras: ['detail', 'anime'] } },
    });
  });
});

describe('the LoRA chain in the graph', () => {
  it('chains the member LoRAs after the style, with their strengths, and adds their triggers after the prompt', () => {
    const r = resolveRequest(
      catalog,
      {
        prompt: 'a fox',
        style: 'sdxl',
        loras: [
          { name: 'a.safetensors', strength: 0.6, trigger: 'trig a' },
          { name: 'b.safetensors', strength: -1 },
        ],
      },
      { randomSeed: () => 1 },
    );
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.params.prompt).toBe('a fox, trig a');
    const chain = Object.entries(r.value.graph).filter(([, n]) => n.class_type === 'LoraLoader');
    expect(
      chain.map(([, n]) => [n.inputs['lora_name'], n.inputs['strength_model'], n.inputs['strength_clip']]),
    ).toEqual([
      ['a.safetensors', 0.6, 0.6],
      ['b.safetensors', -1, -1],
    ]);
    // The first takes the checkpoint's outputs, the second the first's; the sampler reads the last.
    const [first, second] = chain;
    expect(first![1].inputs['model']).toEqual(['4', 0]);
    expect(second![1].inputs['model']).toEqual([first![0], 0]);
    const sampler = Object.values(r.value.graph).find((n) => n.class_type === 'KSampler');
    expect(sampler?.inputs['model']).toEqual([second![0], 0]);
  });
});

describe('scope rules for loras=', () => {
  it('reads all, none and names, and refuses typos and a word that does not stand alone', () => {
    const list = allowlist();
    expect(readAllowedLoras(list, ['all'])).toEqual({ ok: true, loras: undefined });
    expect(readAllowedLoras(list, ['none'])).toEqual({ ok: true, loras: [] });
    expect(readAllowedLoras(list, ['detail', 'detail', 'anime'])).toEqual({
      ok: true,
      loras: ['detail', 'anime'],
    });
    expect(readAllowedLoras(list, ['detial'])).toMatchObject({
      ok: false,
      refusal: { key: 'refuse.settings.unknown_lora', params: { lora: 'detial' } },
    });
    expect(readAllowedLoras(list, ['none', 'detail'])).toMatchObject({
      ok: false,
      refusal: { key: 'refuse.settings.loras_alone' },
    });
    expect(lorasAllowedHere(list, { allowedLoras: ['anime'] }).map((l) => l.name)).toEqual(['anime']);
    expect(lorasAllowedHere(list, {}).map((l) => l.name)).toEqual(['anime', 'detail', 'fluxy', 'ghost']);
  });

  it('refuses a list no allowed style can use, and accepts one that suits some style', () => {
    const list = allowlist();
    expect(
      checkScopeLoras(catalog, list, { allowedStyles: ['sdxl'], allowedLoras: ['fluxy'] }),
    ).toMatchObject({
      key: 'refuse.settings.loras_unusable',
    });
    expect(checkScopeLoras(catalog, list, { allowedStyles: [], allowedLoras: ['fluxy'] })).toBeUndefined();
    expect(checkScopeLoras(catalog, list, { allowedStyles: ['sdxl'], allowedLoras: [] })).toBeUndefined();
  });
});

describe('doctor', () => {
  it('names the allowed LoRAs a server lacks, with their folder', () => {
    const list = allowlist();
    expect(
      loraLines(list, ['detail-tweaker-xl.safetensors', 'anime-xl.safetensors', 'fluxy.safetensors']),
    ).toEqual([
      '  LoRAs (LORAS) missing here: ghost (models/loras/ghost.safetensors).',
      '  Jobs that pick them go to other servers; copy the files into models/loras to serve them here too.',
    ]);
    expect(loraLines(list.slice(0, 1), ['anime-xl.safetensors'])).toEqual([
      '  LoRAs (LORAS): all 1 present in models/loras.',
    ]);
    expect(loraLines([], undefined)).toEqual([]);
  });
});
